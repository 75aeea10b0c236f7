/**
 * The response side every HTTP shell shares: the `x-sluice-*` headers that say what happened to a
 * request, and Sluice's own failures as OpenAI-shaped error answers (status, headers, JSON body) that
 * SDKs raise as their usual errors with `err.code` = the Sluice code.
 */
import type { SluiceError } from '../engine/errors.js';
import { formatGoDuration } from '../formats/duration.js';

/** Names of the response headers Sluice adds. */
export const RESPONSE_HEADERS = {
  /** Milliseconds the request waited for admission, all attempts together. */
  queuedMs: 'x-sluice-queued-ms',
  /** Attempts sent upstream. */
  attempts: 'x-sluice-attempts',
  /** On Sluice's own failures: the Sluice error code. */
  errorCode: 'x-sluice-error-code',
} as const;

/** What the engine tells about a finished request. */
export interface Outcome {
  queuedMs: number;
  attempts: number;
}

/** The `x-sluice-*` headers of an answer that reached the upstream. */
export function outcomeHeaders(outcome: Outcome): [name: string, value: string][] {
  return [
    [RESPONSE_HEADERS.queuedMs, String(Math.round(outcome.queuedMs))],
    [RESPONSE_HEADERS.attempts, String(outcome.attempts)],
  ];
}

/** A failure as an HTTP answer: what an HTTP shell writes back. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  /** JSON text in OpenAI's error shape. */
  body: string;
}

/**
 * A Sluice failure as an OpenAI-shaped error answer: `Retry-After` (seconds) and `retry-after-ms` when
 * a wait is known, the upstream's request id when there was one. Upstream 5xx that outlived every retry
 * keep their status so SDKs raise the matching error class.
 */
export function errorAnswer(err: SluiceError): ErrorAnswer {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    [RESPONSE_HEADERS.errorCode]: err.code,
  };
  if (err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs)) {
    const ms = Math.max(0, Math.ceil(err.retryAfterMs));
    headers['retry-after'] = String(Math.ceil(ms / 1000));
    headers['retry-after-ms'] = String(ms);
  }
  if (err.requestId) headers['x-request-id'] = err.requestId;
  const status = err.code === 'upstream_error' && err.status ? err.status : err.httpStatus;
  return { status, headers, body: JSON.stringify(err.toJSON()) };
}

/** A lane's per-minute buckets as the engine reports them (`engine.stats()`). */
export interface LaneBuckets {
  buckets: readonly { dimension: string; limit: number; windowMs: number; capacity: number; level: number }[];
}

/**
 * `x-ratelimit-*` headers describing a lane, in OpenAI's form (limit, remaining, reset as a Go
 * duration until the bucket is full again), so that clients which honour them back off correctly.
 * Only the per-minute request and token buckets are described; nothing when the lane has none.
 */
export function laneLimitHeaders(lane: LaneBuckets): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const b of lane.buckets) {
    if (b.windowMs !== 60_000 || (b.dimension !== 'requests' && b.dimension !== 'tokens')) continue;
    const level = Math.max(0, b.level);
    headers[`x-ratelimit-limit-${b.dimension}`] = String(Math.floor(b.limit));
    headers[`x-ratelimit-remaining-${b.dimension}`] = String(Math.max(0, Math.floor(b.capacity - level)));
    headers[`x-ratelimit-reset-${b.dimension}`] = formatGoDuration((level / b.limit) * b.windowMs);
  }
  return headers;
}
