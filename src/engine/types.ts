/**
 * Shared vocabulary of the engine. Pure data: no I/O, no classes.
 */

/** What happened to one attempt, as the table in docs/architecture.md defines. */
export type Outcome =
  'success' | 'rate_limited' | 'slow_down' | 'request_too_large' | 'quota_exhausted' | 'transient' | 'fatal';

/** The rate-limit dimensions a lane can be limited in. */
export type Dimension = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens';

/** What the server said about one of its buckets, normalised across providers. */
export interface BucketView {
  /** The bucket's limit (per `window`). Absent when the provider did not say or said `-1`. */
  limit?: number;
  /** Units left right now. Absent when not said or `-1`. */
  remaining?: number;
  /** Milliseconds until the bucket is full again (OpenAI/Azure reset, Anthropic reset time − now). */
  resetMs?: number;
  /**
   * Set when `remaining` is rounded down to a multiple of this (Anthropic's token buckets: 1000), so it
   * cannot reveal a burst shorter than the limit: the capacity is taken as the limit.
   */
  remainingStep?: number;
}

/**
 * The server's view of a lane after one answer: parsed from rate-limit headers and, for errors,
 * from the body. Every field is optional because providers omit headers at times.
 */
export interface ServerView {
  buckets: Partial<Record<Dimension, BucketView>>;
  /**
   * The most precise wait the server asked for, in ms, never negative: `retry-after-ms`, else "Please
   * try again in 1.146s" from the message (ms precision), else `retry-after` (seconds or HTTP date), else
   * Azure's "Please retry after 6 seconds", else Gemini's `retryDelay`. See `headers.ts` for why.
   */
  retryAfterMs?: number;
  /** `x-should-retry: true|false` when present. */
  shouldRetry?: boolean;
  /** `x-request-id` / `request-id` / `apim-request-id` when present. */
  requestId?: string;
}

/** Figures quoted in an OpenAI 429 message: "Limit 50000, Used 47949, Requested 3006". */
export interface QuotedUsage {
  dimension: 'requests' | 'tokens';
  /** `minute` for RPM/TPM, `day` for RPD/TPD. */
  period: 'minute' | 'day';
  limit: number;
  /** Absent in "Request too large" messages. */
  used?: number;
  requested: number;
}

/** The engine's reading of one answer: what it means and what the server said. */
export interface Classification {
  outcome: Outcome;
  status: number;
  /** Provider's machine-readable code (`rate_limit_exceeded`, `insufficient_quota`, …) when given. */
  code?: string;
  /** Provider's error type (`tokens`, `requests`, `insufficient_quota`, `rate_limit_error`, …). */
  type?: string;
  /** Provider's message, verbatim. */
  message?: string;
  /** For `rate_limited`, `slow_down` and `transient`: the wait the server asked for (ms), when it said one. */
  waitMs?: number;
  /** True when the limit hit is a per-day one (RPD/TPD, Gemini `PerDay` quota ids): waits are long. */
  perDay?: boolean;
  /** Figures from an OpenAI rate-limit message, when present. */
  quoted?: QuotedUsage;
}

/** One bucket as stats report it: its spec and its level now. */
export interface BucketStats {
  id: string;
  dimension: Dimension;
  limit: number;
  windowMs: number;
  capacity: number;
  level: number;
}
