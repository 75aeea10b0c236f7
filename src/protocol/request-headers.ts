/**
 * Reading a request's headers without copying them when there is nothing to strip: the common case
 * (no `x-sluice-*` header) passes the caller's headers object upstream as it is.
 */
import { WISH_HEADERS } from './wishes.js';

type HeadersInput = NonNullable<RequestInit['headers']>;

export interface RequestHeaders {
  /** Case-insensitive lookup. */
  get(name: string): string | null;
  /** The headers to send upstream: the original object, or a copy without the `x-sluice-*` headers. */
  upstream: HeadersInput | undefined;
}

const WISHES: ReadonlySet<string> = new Set(WISH_HEADERS);

export function readRequestHeaders(input: HeadersInput | undefined): RequestHeaders {
  if (input === undefined) return { get: () => null, upstream: undefined };
  if (input instanceof Headers) {
    let strip = false;
    for (const name of WISH_HEADERS) if (input.has(name)) strip = true;
    if (!strip) return { get: (name) => input.get(name), upstream: input };
    const copy = new Headers(input);
    for (const name of WISH_HEADERS) copy.delete(name);
    return { get: (name) => input.get(name), upstream: copy };
  }
  if (
    Array.isArray(input) ||
    typeof (input as unknown as Iterable<unknown>)[Symbol.iterator] === 'function'
  ) {
    return readRequestHeaders(new Headers(input));
  }
  // A plain record: one pass over its keys, lower-casing only what is read.
  const record = input as Record<string, string | readonly string[] | undefined>;
  const lower = new Map<string, string>();
  let strip = false;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value === undefined) continue;
    const name = key.toLowerCase();
    if (WISHES.has(name)) strip = true;
    const text = typeof value === 'string' ? value : value.join(', ');
    const prior = lower.get(name);
    lower.set(name, prior === undefined ? text : `${prior}, ${text}`);
  }
  const get = (name: string) => lower.get(name) ?? null;
  if (!strip) return { get, upstream: input };
  const copy: Record<string, string | readonly string[]> = {};
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value !== undefined && !WISHES.has(key.toLowerCase())) copy[key] = value;
  }
  return { get, upstream: copy as HeadersInput };
}
