import { describe, expect, it } from 'vitest';
import { bucket, charge, levelAt, MINUTE_MS, waitFor } from './limits.js';

describe('bucket math reproduces OpenAI figures', () => {
  it.each([
    // limit, used, requested, expected wait (ms) — the real 429 examples in docs/rate-limits.md
    [50_000, 47_949, 3006, 1146],
    [10_000, 8782, 8172, 41_724],
    [200_000, 195_869, 4412, 84.6],
    [3, 3, 1, 20_000],
  ])('limit %d, used %d, requested %d → wait %d ms', (limit, used, requested, wait) => {
    const spec = bucket('tokens', limit, MINUTE_MS);
    expect(waitFor(spec, { level: used, at: 0 }, requested, 0)).toBeCloseTo(wait, 0);
  });

  it('per-day: RPD 200, used 200, requested 1 → 7m12s', () => {
    const spec = bucket('requests', 200, 86_400_000);
    expect(waitFor(spec, { level: 200, at: 0 }, 1, 0)).toBe(432_000);
  });

  it('reset: 5000 RPM with 1 used refills in 12 ms', () => {
    const spec = bucket('requests', 5000, MINUTE_MS);
    expect(levelAt(spec, { level: 1, at: 0 }, 11)).toBeGreaterThan(0);
    expect(levelAt(spec, { level: 1, at: 0 }, 12)).toBe(0);
  });

  it('drains continuously and never goes below zero', () => {
    const spec = bucket('tokens', 6000, MINUTE_MS);
    const s = charge(spec, undefined, 3000, 0);
    expect(levelAt(spec, s, 10_000)).toBe(2000);
    expect(levelAt(spec, s, 60_000)).toBe(0);
    // 4000 units are free at 10 s: a cost of 4000 fits at once, one more does not.
    expect(waitFor(spec, s, 4000, 10_000)).toBe(0);
    expect(waitFor(spec, s, 4001, 10_000)).toBeGreaterThan(0);
    expect(charge(spec, s, -5000, 0).level).toBe(0);
  });

  it('a burst below the window shrinks the capacity; a cost above it never fits', () => {
    const spec = bucket('requests', 3000, MINUTE_MS, 3000);
    expect(spec.capacity).toBe(150);
    expect(waitFor(spec, undefined, 151, 0)).toBe(Infinity);
    expect(waitFor(spec, { level: 150, at: 0 }, 1, 0)).toBe(20);
  });
});
