import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { backoffDelay, DEFAULT_RETRY_POLICY, mayRetry } from './retry.js';

describe('backoff', () => {
  it('doubles the ceiling up to the cap, with full jitter', () => {
    const top = () => 0.999999;
    expect(backoffDelay(1, DEFAULT_RETRY_POLICY, top)).toBe(499);
    expect(backoffDelay(2, DEFAULT_RETRY_POLICY, top)).toBe(999);
    expect(backoffDelay(5, DEFAULT_RETRY_POLICY, top)).toBe(7999);
    expect(backoffDelay(9, DEFAULT_RETRY_POLICY, top)).toBe(7999);
    expect(backoffDelay(3, DEFAULT_RETRY_POLICY, () => 0)).toBe(0);
  });

  it('stays within [0, cap) for any retry number and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (n, r) => {
          const d = backoffDelay(n, DEFAULT_RETRY_POLICY, () => r);
          return d >= 0 && d < DEFAULT_RETRY_POLICY.maxDelayMs;
        },
      ),
    );
  });

  it('bounds attempts and elapsed time', () => {
    expect(mayRetry(4, 0, 0, DEFAULT_RETRY_POLICY)).toBe(true);
    expect(mayRetry(5, 0, 0, DEFAULT_RETRY_POLICY)).toBe(false);
    expect(mayRetry(1, 119_000, 2000, DEFAULT_RETRY_POLICY)).toBe(false);
  });
});
