/**
 * Provider answers -> one normalised {@link ServerView}.
 *
 * Reads the rate-limit headers of OpenAI (and the servers that copy them: Groq, …), Azure OpenAI,
 * Anthropic and Mistral, the waits a server asks for
 * (headers, error messages, Gemini's `RetryInfo`), `x-should-retry` and the request id. Pure: the
 * current time comes in as `nowMs`; nothing here throws on bad input — a header that cannot be read is
 * treated as absent, because providers have sent malformed and missing headers before and a pacing
 * library must not fail a request over them.
 */

import { isRecord, parseJsonObject } from '../formats/json.js';
import { parseGoDuration } from '../formats/duration.js';
import type { BucketView, Dimension, ServerView } from './types.js';

/** Header bags accepted: a WHATWG `Headers` (fetch) or a plain record (`node:http`, tests). */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/**
 * The error object of a provider's error body, normalised across shapes:
 * OpenAI/Azure `{"error":{message,type,code}}`, Anthropic `{"type":"error","error":{type,message}}`,
 * vLLM and Mistral `{"object":"error",message,type,code}`,
 * Gemini `{"error":{code:429,status,message,details}}` (also wrapped in a one-element array by its
 * OpenAI-compatible endpoint), Azure APIM `{"statusCode":429,"message":…}`, Responses API stream events
 * `{"type":"error",code,message}` and `{"type":"response.failed","response":{"error":{code,message}}}`.
 */
export interface ProviderError {
  message?: string;
  /** `error.type` (OpenAI, Anthropic). The event type `"error"` of a stream event is not copied here. */
  type?: string;
  /** A string `error.code` (`rate_limit_exceeded`, `insufficient_quota`, Azure's `"429"`). */
  code?: string;
  /** A numeric `error.code` (Gemini repeats the HTTP status there; Azure APIM `statusCode`). */
  numericCode?: number;
  /** Gemini's canonical status (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …). */
  status?: string;
  /** Gemini's `error.details` (`google.rpc.QuotaFailure`, `google.rpc.RetryInfo`, …). */
  details?: readonly unknown[];
}

/**
 * Error bodies are small (well under 1 KiB). A string body longer than this is not parsed: it is a
 * success body passed by mistake, and parsing megabytes per answer would cost more than it could tell.
 */
export const MAX_ERROR_BODY_CHARS = 65_536;

/**
 * Header names per dimension: `[dimension, limit, remaining, reset]`. Written out as literals on
 * purpose: literal strings are interned, and V8 looks interned keys up several times faster than
 * strings built at run time.
 */
type BucketHeaders = readonly [Dimension, string, string, string];

/** OpenAI and Azure (same names; OpenAI resets are Go durations, Azure's whole seconds). */
const OPENAI_BUCKETS: readonly BucketHeaders[] = [
  ['requests', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  ['tokens', 'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
];

/** Anthropic (resets are RFC 3339 times). */
const ANTHROPIC_BUCKETS: readonly BucketHeaders[] = [
  [
    'requests',
    'anthropic-ratelimit-requests-limit',
    'anthropic-ratelimit-requests-remaining',
    'anthropic-ratelimit-requests-reset',
  ],
  [
    'tokens',
    'anthropic-ratelimit-tokens-limit',
    'anthropic-ratelimit-tokens-remaining',
    'anthropic-ratelimit-tokens-reset',
  ],
  [
    'inputTokens',
    'anthropic-ratelimit-input-tokens-limit',
    'anthropic-ratelimit-input-tokens-remaining',
    'anthropic-ratelimit-input-tokens-reset',
  ],
  [
    'outputTokens',
    'anthropic-ratelimit-output-tokens-limit',
    'anthropic-ratelimit-output-tokens-remaining',
    'anthropic-ratelimit-output-tokens-reset',
  ],
];

/**
 * Mistral's per-minute buckets: `[dimension, limit, remaining]`, no reset header (the level is
 * `limit − remaining`). Its monthly token quota (`…-tokens-month`) is not a rate and is not read.
 */
const MISTRAL_BUCKETS: readonly (readonly [Dimension, string, string])[] = [
  ['requests', 'x-ratelimit-limit-req-minute', 'x-ratelimit-remaining-req-minute'],
  ['tokens', 'x-ratelimit-limit-tokens-minute', 'x-ratelimit-remaining-tokens-minute'],
];

/** Every header this module reads. */
const KNOWN_HEADERS: ReadonlySet<string> = new Set([
  ...OPENAI_BUCKETS.flatMap(([, ...names]) => names),
  ...MISTRAL_BUCKETS.flatMap(([, ...names]) => names),
  ...ANTHROPIC_BUCKETS.flatMap(([, ...names]) => names),
  'retry-after-ms',
  'retry-after',
  'x-should-retry',
  'x-request-id',
  'request-id',
  'apim-request-id',
]);

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
/** Every HTTP-date form (IMF-fixdate, RFC 850, asctime) carries a clock time; plain `Date.parse` is too lenient alone. */
const HTTP_DATE_CLOCK = /\d{1,2}:\d{2}:\d{2}/;
/**
 * OpenAI: "Please try again in 1.146s." / "in 7m12s" / "in 84ms"; Gemini: "Please retry in 33.86s.".
 * The unit alternation lists `ms` before `m` so `84ms` is not read as 84 minutes.
 */
const MESSAGE_GO_WAIT = /(?:try again|retry) in ((?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|h|m|s))+)(?![A-Za-z])/i;
/** Azure: "Please retry after 6 seconds." (also "Try again in 59 seconds."). Whole seconds at best. */
const MESSAGE_SECONDS_WAIT = /(?:retry after|try again in) (\d+(?:\.\d+)?) ?(?:seconds?|secs?)\b/i;
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';
const PROTO_DURATION = /^(\d+(?:\.\d+)?)s$/;

/**
 * Reads what the server said about the lane after one answer.
 *
 * @param headers the answer's headers; names are matched case-insensitively.
 * @param nowMs the current time in epoch ms (Anthropic resets and HTTP-date `retry-after` are absolute).
 * @param body the error body, if any: a parsed object, a JSON string, or absent. Pass it for error
 *   answers only — waits quoted in messages are read from it; a success body is never needed.
 * @param options `lowerCase`: the record's names are all lower case already (`node:http`'s
 *   `IncomingMessage.headers`), so they are read as they are, without looking for upper-case ones.
 *
 * Buckets appear only for dimensions with at least one readable figure. Limits and remainings below
 * zero (Azure's `-1` = "not said") and unparsable values are left absent; resets are never negative.
 */
export function parseServerView(
  headers: HeaderSource,
  nowMs: number,
  body?: unknown,
  options?: { lowerCase?: boolean },
): ServerView {
  const get = headerReader(headers, options?.lowerCase === true);
  const buckets: Partial<Record<Dimension, BucketView>> = {};

  for (const [dimension, limit, remaining, reset] of OPENAI_BUCKETS) {
    const bucket = readBucket(get(limit), get(remaining), durationResetMs(get(reset)));
    if (bucket) buckets[dimension] = bucket;
  }
  for (const [dimension, limit, remaining, reset] of ANTHROPIC_BUCKETS) {
    if (buckets[dimension]) continue;
    const bucket = readBucket(get(limit), get(remaining), timeResetMs(get(reset), nowMs));
    if (!bucket) continue;
    // Anthropic rounds token `remaining` down to the thousand.
    if (dimension !== 'requests' && bucket.remaining !== undefined) bucket.remainingStep = 1000;
    buckets[dimension] = bucket;
  }
  for (const [dimension, limit, remaining] of MISTRAL_BUCKETS) {
    if (buckets[dimension]) continue;
    const bucket = readBucket(get(limit), get(remaining), undefined);
    if (bucket) buckets[dimension] = bucket;
  }

  const view: ServerView = { buckets };
  const retryAfterMs = chooseRetryAfter(get, nowMs, readProviderError(body));
  if (retryAfterMs !== undefined) view.retryAfterMs = retryAfterMs;

  const shouldRetry = get('x-should-retry')?.trim().toLowerCase();
  if (shouldRetry === 'true') view.shouldRetry = true;
  else if (shouldRetry === 'false') view.shouldRetry = false;

  const requestId = (get('x-request-id') ?? get('request-id') ?? get('apim-request-id'))?.trim();
  if (requestId) view.requestId = requestId;
  return view;
}

/**
 * Picks one wait among everything the answer offers, by precedence rather than by size:
 *
 * 1. `retry-after-ms` — the server's own wait, in (fractional) milliseconds: nothing is more precise.
 * 2. A Go duration in the message ("try again in 1.146s") — OpenAI computes it from the bucket to the
 *    millisecond, whereas `retry-after` carries whole seconds.
 * 3. `retry-after` — whole (sometimes fractional) seconds or an HTTP date (second precision).
 * 4. "retry after 6 seconds" in the message (Azure) — whole seconds, and the header says the same when
 *    present, so it ranks below it.
 * 5. Gemini's `RetryInfo.retryDelay` — whole seconds in practice; when Gemini's message repeats it
 *    more precisely ("Please retry in 33.86s"), rule 2 has already read that.
 *
 * Garbage at one level falls through to the next. The result is never negative.
 */
function chooseRetryAfter(
  get: (name: string) => string | undefined,
  nowMs: number,
  error: ProviderError | undefined,
): number | undefined {
  const ms = decimal(get('retry-after-ms'));
  if (ms !== undefined) return ms;
  const fromMessage = messageGoWaitMs(error?.message);
  if (fromMessage !== undefined) return fromMessage;
  const header = retryAfterHeaderMs(get('retry-after'), nowMs);
  if (header !== undefined) return header;
  const seconds = messageSecondsWaitMs(error?.message);
  if (seconds !== undefined) return seconds;
  return retryDelayMs(error?.details);
}

/**
 * The wait an error body asks for on its own (message text, then Gemini `retryDelay`), for answers
 * without headers such as an error event inside a stream. `undefined` when it names none.
 */
export function retryAfterFromError(error: ProviderError | undefined): number | undefined {
  if (!error) return undefined;
  return messageGoWaitMs(error.message) ?? messageSecondsWaitMs(error.message) ?? retryDelayMs(error.details);
}

/**
 * Normalises a provider error body (see {@link ProviderError} for the shapes). Accepts a parsed value
 * or a JSON string; returns `undefined` for anything else, including a JSON body without an error.
 */
export function readProviderError(body: unknown): ProviderError | undefined {
  let value = body;
  if (typeof value === 'string') value = parseJsonObject(value, MAX_ERROR_BODY_CHARS);
  if (Array.isArray(value)) value = value[0]; // Gemini's OpenAI-compatible endpoint: [{"error":{…}}]
  if (!isRecord(value)) return undefined;

  const inner = value['error'];
  if (isRecord(inner)) return fromErrorObject(inner, true);
  if (typeof inner === 'string') return inner === '' ? undefined : { message: inner };

  if (value['type'] === 'response.failed') {
    const response = value['response'];
    const error = isRecord(response) ? response['error'] : undefined;
    return isRecord(error) ? fromErrorObject(error, true) : {};
  }
  // vLLM, Mistral and other OpenAI-compatible servers: the error object itself, `{"object":"error",…}`.
  if (value['object'] === 'error') return fromErrorObject(value, true);
  // Responses API stream `{"type":"error",code,message}`; Azure APIM `{"statusCode":429,"message":…}`.
  if (value['type'] === 'error' || typeof value['statusCode'] === 'number') {
    const error = fromErrorObject(value, false);
    if (typeof value['statusCode'] === 'number') error.numericCode = value['statusCode'];
    return error;
  }
  return undefined;
}

function fromErrorObject(source: Record<string, unknown>, withType: boolean): ProviderError {
  const error: ProviderError = {};
  const { message, type, code, status, details } = source;
  if (typeof message === 'string') error.message = message;
  if (withType && typeof type === 'string') error.type = type;
  if (typeof code === 'string' && code !== '') error.code = code;
  else if (typeof code === 'number' && Number.isFinite(code)) error.numericCode = code;
  if (typeof status === 'string' && status !== '') error.status = status;
  if (Array.isArray(details)) error.details = details;
  return error;
}

/**
 * A lookup over the headers this module reads. A `Headers` object is walked once (one `get` per name
 * costs more than the walk: undici validates and searches on every call); a record is read in place
 * unless a name has upper-case letters, in which case the known names are copied out lower-cased
 * (`lowerCase` says there are none: the names are not looked at).
 */
function headerReader(headers: HeaderSource, lowerCase: boolean): (name: string) => string | undefined {
  let record: Record<string, unknown>;
  if (typeof (headers as { forEach?: unknown }).forEach === 'function') {
    record = Object.create(null) as Record<string, unknown>;
    (headers as Headers).forEach((value, name) => {
      if (KNOWN_HEADERS.has(name)) record[name] = value;
    });
    return (name) => firstString(record[name]);
  }
  record = headers as Record<string, unknown>;
  if (!lowerCase) {
    for (const key in record) {
      if (!Object.hasOwn(record, key) || !/[A-Z]/.test(key)) continue;
      const lower = Object.create(null) as Record<string, unknown>;
      for (const k of Object.keys(record)) {
        const name = k.toLowerCase();
        if (KNOWN_HEADERS.has(name) && lower[name] === undefined) lower[name] = record[k];
      }
      return (name) => firstString(lower[name]);
    }
  }
  const own = record;
  // Inherited properties are not headers; `hasOwn` runs only on the rare hit.
  return (name) => {
    const value = own[name];
    return value !== undefined && Object.hasOwn(own, name) ? firstString(value) : undefined;
  };
}

function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const first: unknown = value[0];
    return typeof first === 'string' ? first : undefined;
  }
  return undefined;
}

function readBucket(
  limitText: string | undefined,
  remainingText: string | undefined,
  resetMs: number | undefined,
): BucketView | undefined {
  const limit = decimal(limitText);
  const remaining = decimal(remainingText);
  if (limit === undefined && remaining === undefined && resetMs === undefined) return undefined;
  const bucket: BucketView = {};
  if (limit !== undefined) bucket.limit = limit;
  if (remaining !== undefined) bucket.remaining = remaining;
  if (resetMs !== undefined) bucket.resetMs = resetMs;
  return bucket;
}

/** A non-negative finite decimal (`-1`, `1e3`, `0x10`, `""` and the like are `undefined`). */
function decimal(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!isDecimal(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** `12`, `1.5`, `1.` or `.5`: digits with at most one point, at least one digit (read on every answer). */
function isDecimal(text: string): boolean {
  let digits = 0;
  let points = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c === 0x2e && points === 0) points++;
    else return false;
  }
  return digits > 0;
}

/** OpenAI `6m0s` (Go duration) or Azure `6` (bare number = seconds). */
function durationResetMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = decimal(text);
  if (seconds !== undefined) return finiteOrUndefined(seconds * 1000);
  const ms = parseGoDuration(text);
  return ms === undefined ? undefined : finiteOrUndefined(ms);
}

/** Anthropic: an RFC 3339 time at which the bucket is full again; a time in the past means 0. */
function timeResetMs(text: string | undefined, nowMs: number): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!RFC3339.test(trimmed)) return undefined;
  const at = Date.parse(trimmed.replace(' ', 'T').toUpperCase());
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

function retryAfterHeaderMs(text: string | undefined, nowMs: number): number | undefined {
  if (text === undefined) return undefined;
  const seconds = decimal(text);
  if (seconds !== undefined) return finiteOrUndefined(seconds * 1000);
  if (!HTTP_DATE_CLOCK.test(text)) return undefined;
  const at = Date.parse(text.trim());
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

function messageGoWaitMs(message: string | undefined): number | undefined {
  if (message === undefined) return undefined;
  const match = MESSAGE_GO_WAIT.exec(message);
  if (!match) return undefined;
  const ms = parseGoDuration(match[1]!);
  return ms === undefined ? undefined : finiteOrUndefined(ms);
}

function messageSecondsWaitMs(message: string | undefined): number | undefined {
  if (message === undefined) return undefined;
  const match = MESSAGE_SECONDS_WAIT.exec(message);
  return match ? finiteOrUndefined(Number(match[1]) * 1000) : undefined;
}

/** Gemini `google.rpc.RetryInfo.retryDelay`: protobuf JSON `"34s"` / `"1.5s"`, or `{seconds, nanos}`. */
function retryDelayMs(details: readonly unknown[] | undefined): number | undefined {
  if (!details) return undefined;
  for (const detail of details) {
    if (!isRecord(detail) || detail['@type'] !== RETRY_INFO_TYPE) continue;
    const delay = detail['retryDelay'];
    if (typeof delay === 'string') {
      const match = PROTO_DURATION.exec(delay.trim());
      if (match) return finiteOrUndefined(Number(match[1]) * 1000);
    } else if (isRecord(delay)) {
      const seconds = Number(delay['seconds'] ?? 0);
      const nanos = Number(delay['nanos'] ?? 0);
      const ms = seconds * 1000 + nanos / 1e6;
      if (Number.isFinite(ms) && ms >= 0) return ms;
    }
  }
  return undefined;
}

function finiteOrUndefined(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
