import { describe, expect, it } from 'vitest';
import { scheduledRpm, scheduleMs, type LaneSample } from './schedule.js';

const minute = (dimension: string, limit: number, capacity: number, level: number) => ({
  dimension,
  limit,
  windowMs: 60_000,
  capacity,
  level,
});

describe('the limiter schedule', () => {
  it('needs a minute per request at 1 RPM once the burst is spent, counting down between samples', () => {
    const sample: LaneSample = {
      at: 0,
      buckets: [minute('requests', 1, 1, 1)],
      cooldownUntil: 0,
      waiting: 4,
    };
    expect(scheduleMs(sample, 4, 20, 0)).toBe(240_000);
    // 30 s later the bucket has refilled half a request.
    expect(scheduleMs(sample, 4, 20, 30_000)).toBe(210_000);
    expect(scheduledRpm(sample, 20, 0)).toBe(1);
  });

  it('takes the binding bucket: tokens when requests are cheap in requests but dear in tokens', () => {
    const sample: LaneSample = {
      at: 0,
      buckets: [minute('requests', 3000, 150, 0), minute('tokens', 300_000, 15_000, 0)],
      cooldownUntil: 0,
      waiting: 100,
    };
    // 2,000 requests of 150 tokens: 300,000 tokens, 15,000 of them in the burst → 57 s.
    expect(scheduleMs(sample, 2000, 150, 0)).toBe(57_000);
    expect(scheduledRpm(sample, 150, 0)).toBe(2000);
  });

  it('adds a pause after a 429, shows no pace during it, and knows nothing without limits', () => {
    const paused: LaneSample = {
      at: 0,
      buckets: [minute('requests', 60, 60, 0)],
      cooldownUntil: 5000,
      waiting: 1,
    };
    expect(scheduleMs(paused, 10, 1, 1000)).toBe(4000);
    expect(scheduledRpm(paused, 1, 1000)).toBe(0);
    const unknown: LaneSample = { at: 0, buckets: [], cooldownUntil: 0, waiting: 3 };
    expect(scheduleMs(unknown, 3, 1, 0)).toBeUndefined();
    expect(scheduledRpm(unknown, 1, 0)).toBeUndefined();
  });
});
