/**
 * One error class with stable machine-readable codes. Users branch on `err.code`, never on a message.
 * Every code is listed, with what to do about it, in docs/errors.md (a test keeps the two in sync).
 */

/** Every code Sluice itself can fail with, and the HTTP status it maps to when answered over HTTP. */
export const ERROR_CODES = {
  /** The server kept answering 429 longer than the request was allowed to wait or retry. */
  rate_limited: 429,
  /** The account's quota or budget is spent; retrying cannot help until billing changes. */
  quota_exhausted: 429,
  /** The request costs more than the lane can ever admit (e.g. more tokens than the TPM capacity). */
  request_too_large: 429,
  /** The request could not be admitted within its deadline (`x-sluice-max-wait-ms`, `maxWaitMs`). */
  deadline_exceeded: 429,
  /** The lane's queue is full. */
  queue_full: 429,
  /** The upstream kept failing (5xx, 408, 409, connection errors) after every allowed retry. */
  upstream_error: 502,
  /** An option or a per-request header has a value Sluice cannot use. */
  invalid_option: 400,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SluiceErrorDetails {
  /** The upstream HTTP status, when an upstream answer caused this error. */
  status?: number;
  /** The upstream response body (parsed JSON when it was JSON, else text). */
  body?: unknown;
  /** The upstream request id (`x-request-id`), when there was one. */
  requestId?: string;
  /** Milliseconds after which trying again may succeed, when known. */
  retryAfterMs?: number;
  /** The lane the request was in (upstream, key fingerprint, model — never the key). */
  lane?: string;
  /** Attempts sent upstream for this request. */
  attempts?: number;
  cause?: unknown;
}

export class SluiceError extends Error {
  override readonly name: string;
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly body: unknown;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly lane: string | undefined;
  readonly attempts: number | undefined;

  constructor(code: ErrorCode, message: string, details: SluiceErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.body = details.body;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.lane = details.lane;
    this.attempts = details.attempts;
  }

  /** The HTTP status this error is answered with by the HTTP shells. */
  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }

  /** OpenAI's error shape, so SDKs surface `err.code === '<sluice code>'`. */
  toJSON(): { error: { message: string; type: string; param: null; code: ErrorCode; upstream?: unknown } } {
    const upstream = (this.body as { error?: unknown } | undefined)?.error ?? this.body;
    return {
      error: {
        message: this.message,
        type: 'sluice_error',
        param: null,
        code: this.code,
        ...(upstream === undefined ? {} : { upstream }),
      },
    };
  }
}

/** The account's quota or budget is spent (`quota_exhausted`). */
export class QuotaExhaustedError extends SluiceError {}
/** The server kept refusing with 429 (`rate_limited`). */
export class RateLimitedError extends SluiceError {}
/** The request can never fit the lane's limits (`request_too_large`). */
export class RequestTooLargeError extends SluiceError {}
/** Not admitted within its deadline (`deadline_exceeded`). */
export class DeadlineExceededError extends SluiceError {}
/** The lane's queue is full (`queue_full`). */
export class QueueFullError extends SluiceError {}
/** The upstream kept failing or could not be reached (`upstream_error`). */
export class UpstreamError extends SluiceError {}
/** A bad option or `x-sluice-*` header (`invalid_option`). */
export class InvalidOptionError extends SluiceError {}

/** The subclass of every code (a new code must name one). */
const CLASSES: Record<
  ErrorCode,
  new (code: ErrorCode, message: string, details?: SluiceErrorDetails) => SluiceError
> = {
  quota_exhausted: QuotaExhaustedError,
  rate_limited: RateLimitedError,
  request_too_large: RequestTooLargeError,
  deadline_exceeded: DeadlineExceededError,
  queue_full: QueueFullError,
  upstream_error: UpstreamError,
  invalid_option: InvalidOptionError,
};

/**
 * The one factory for Sluice errors: the subclass that matches `code`, so `instanceof` works as well as
 * `err.code`.
 */
export function sluiceError(code: ErrorCode, message: string, details?: SluiceErrorDetails): SluiceError {
  return new CLASSES[code](code, message, details);
}

export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}

/**
 * The Sluice error behind `value`: `value` itself, or the first one found down its `cause` chain. SDKs
 * wrap what a custom `fetch` throws (the `openai` SDK raises `APIConnectionError` with the thrown error
 * as its `cause`), so with `createFetch({ errors: 'throw' })` this is how to get at the Sluice code.
 */
export function sluiceErrorOf(value: unknown): SluiceError | undefined {
  for (let depth = 0; depth < 8 && value !== null && typeof value === 'object'; depth++) {
    if (value instanceof SluiceError) return value;
    value = (value as { cause?: unknown }).cause;
  }
  return undefined;
}
