import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Bucket } from './bucket.js';

describe('Bucket', () => {
  it('drains continuously at limit per window', () => {
    const b = new Bucket(60, 60_000, 60);
    b.charge(0, 60);
    expect(b.level(0)).toBe(60);
    expect(b.level(30_000)).toBe(30);
    expect(b.level(60_000)).toBe(0);
    expect(b.level(120_000)).toBe(0);
    expect(b.remaining(15_000)).toBe(15);
  });

  it('quotes waits and resets with the real formulas, exactly for integer figures', () => {
    const b = new Bucket(50_000, 60_000, 50_000);
    b.charge(0, 47_949);
    expect(b.fits(0, 3006)).toBe(false);
    expect(b.waitMs(0, 3006)).toBe(1146);
    expect(b.used(0)).toBe(47_949);
    expect(b.fits(1146, 3006)).toBe(true);
    const r = new Bucket(5000, 60_000, 5000);
    r.charge(0, 1);
    expect(r.resetMs(0)).toBe(12);
    expect(r.remaining(0)).toBe(4999);
  });

  it('never refills backwards when the clock goes back, and settles down to zero at most', () => {
    const b = new Bucket(10, 60_000, 10);
    b.charge(1000, 5);
    expect(b.level(0)).toBe(5);
    b.charge(1000, -20);
    expect(b.level(1000)).toBe(0);
  });

  it('never admits more than capacity + limit × elapsed / window over any interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 50 })), {
          maxLength: 200,
        }),
        (limit, burstSeconds, arrivals) => {
          const capacity = (limit * burstSeconds) / 60;
          const b = new Bucket(limit, 60_000, capacity);
          const admitted: Array<[number, number]> = [];
          let now = 0;
          for (const [dt, cost] of arrivals) {
            now += dt;
            if (b.fits(now, cost)) {
              b.charge(now, cost);
              admitted.push([now, cost]);
            }
          }
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += admitted[j]![1];
              const span = admitted[j]![0] - admitted[i]![0];
              expect(sum).toBeLessThanOrEqual(capacity + (limit * span) / 60_000 + 1e-6);
            }
          }
        },
      ),
    );
  });
});
