/**
 * Backoff for transient failures (5xx, 408, 409, connection errors): exponential with full jitter,
 * bounded in attempts and in total time. Pure: randomness is passed in.
 */

export interface RetryPolicy {
  /**
   * Total attempts for one request when its failures are transient (the first included).
   * @default 5
   */
  maxAttempts: number;
  /** @default 500 */
  baseDelayMs: number;
  /** Cap of one delay before jitter. @default 8000 */
  maxDelayMs: number;
  /** No retry starts after this long since the request was first sent. @default 120000 */
  maxElapsedMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 8000,
  maxElapsedMs: 120_000,
});

/**
 * Delay before retry number `retry` (1 for the first retry): uniform in [0, min(cap, base × 2^(retry−1))).
 * "Full jitter" spreads clients that failed together so they do not come back together.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Whether another attempt may start, given attempts made so far and time spent. */
export function mayRetry(
  attemptsMade: number,
  elapsedMs: number,
  delayMs: number,
  policy: RetryPolicy,
): boolean {
  return attemptsMade < policy.maxAttempts && elapsedMs + delayMs <= policy.maxElapsedMs;
}
