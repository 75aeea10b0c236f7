/**
 * What makes two requests the same question: the method, the path and the body as canonical JSON (keys
 * in sorted order, so their order never matters), without the fields that only choose the answer's
 * shape (`stream`, `stream_options`) — scoped to the caller, so that two keys (or two virtual keys)
 * never share an entry unless a namespace is shared on purpose. Every other field (model, temperature,
 * seed, tools, …) can change the answer and is part of the key.
 */
import { createHash } from 'node:crypto';

/** Body fields that choose how an answer is delivered, not what it says. */
const SHAPE_FIELDS: ReadonlySet<string> = new Set(['stream', 'stream_options']);

export interface KeyParts {
  /** Whose entries these are: a key fingerprint, a virtual key's name, or a shared namespace. */
  scope: string;
  method: string;
  /** The URL path, without the query (Azure's `api-version` is in `query`). */
  path: string;
  /** The query string, part of the key as given (`?api-version=…`). */
  query?: string;
  body: Record<string, unknown>;
}

/** A stable, non-reversible key (SHA-256 hex) for a request. */
export function cacheKey(parts: KeyParts): string {
  const body: Record<string, unknown> = {};
  for (const name of Object.keys(parts.body)) if (!SHAPE_FIELDS.has(name)) body[name] = parts.body[name];
  return createHash('sha256')
    .update(parts.scope)
    .update('\n')
    .update(parts.method.toUpperCase())
    .update(' ')
    .update(parts.path)
    .update(parts.query ?? '')
    .update('\n')
    .update(canonicalJson(body))
    .digest('hex');
}

/** JSON with object keys sorted at every depth; arrays keep their order (it can change the answer). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
