/**
 * The response side every HTTP shell shares: the `x-sluice-*` headers that say what happened to a
 * request, and Sluice's own failures as OpenAI-shaped error answers (status, headers, JSON body) that
 * SDKs raise as their usual errors with `err.code` = the Sluice code.
 */
import type { SluiceError } from '../engine/errors.js';

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
