/**
 * JSON helpers for bodies that arrive from the wire: parsing never throws, and the checks are the same
 * everywhere (request bodies, error bodies, stream events, Batch lines).
 */

/** A plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses any JSON text; `undefined` when it is not JSON. Never throws. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Parses a JSON object or array; `undefined` for anything else (a scalar, not JSON, or longer than
 * `maxChars`). Looks at the first character before parsing, so HTML and plain text cost nothing.
 */
export function parseJsonObject(text: string, maxChars = Infinity): unknown {
  if (text.length > maxChars) return undefined;
  const start = firstNonSpace(text);
  if (start !== '{' && start !== '[') return undefined;
  return parseJson(text);
}

/**
 * A request body as a JSON object: an already parsed object is taken as it is; a string or UTF-8 bytes
 * are parsed. `undefined` for anything else (no body, a stream, a form, JSON that is not an object).
 */
export function jsonObjectOf(body: unknown): Record<string, unknown> | undefined {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) text = decoder.decode(body);
  else if (!isRecord(body)) return undefined;
  // What `JSON.parse` made (the usual case) is plain; only other objects can be binary.
  else return Object.getPrototypeOf(body) === Object.prototype || !isBinaryLike(body) ? body : undefined;
  const parsed = parseJsonObject(text);
  return isRecord(parsed) ? parsed : undefined;
}

const decoder = new TextDecoder();

function isBinaryLike(value: object): boolean {
  return (
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) ||
    (typeof Blob !== 'undefined' && value instanceof Blob) ||
    (typeof ReadableStream !== 'undefined' && value instanceof ReadableStream) ||
    (typeof FormData !== 'undefined' && value instanceof FormData) ||
    (typeof URLSearchParams !== 'undefined' && value instanceof URLSearchParams)
  );
}

function firstNonSpace(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xfeff) return text[i];
  }
  return undefined;
}
