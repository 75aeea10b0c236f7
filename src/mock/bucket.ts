/**
 * One continuously refilling bucket, seen from the server: a level of usage that drains at
 * `limit / windowMs` per ms and may not exceed `capacity` after a charge.
 *
 * This is the leaky-bucket form of GCRA: the level is the usage still "inside" the window. With the
 * clock frozen, the level is exactly the sum of the charges, which is what lets tests reproduce the
 * figures of real OpenAI messages.
 */

/** Float slack when comparing levels: refill arithmetic must not turn 47949 into 47949.000000001. */
const EPSILON = 1e-6;

export class Bucket {
  #level = 0;
  #updatedAt = 0;

  constructor(
    /** Units per window (the L of docs/rate-limits.md). */
    readonly limit: number,
    /** 60 000 for per-minute limits, 86 400 000 for per-day limits. */
    readonly windowMs: number,
    /** Most usage the bucket holds: the burst. */
    readonly capacity: number,
  ) {}

  /** Usage inside the window at `now`. A clock that goes backwards refills nothing. */
  level(now: number): number {
    const elapsed = now - this.#updatedAt;
    if (elapsed <= 0) return this.#level;
    const level = this.#level - (elapsed * this.limit) / this.windowMs;
    return level > 0 ? level : 0;
  }

  /** True when `cost` fits on top of the current level. */
  fits(now: number, cost: number): boolean {
    return this.level(now) + cost <= this.capacity + EPSILON;
  }

  /** Adds `cost` (may be negative, to settle) to the level at `now`; the level never goes below 0. */
  charge(now: number, cost: number): void {
    const level = this.level(now) + cost;
    this.#level = level > 0 ? level : 0;
    this.#updatedAt = now;
  }

  /** Milliseconds until `cost` would fit: `(level + cost − capacity) / limit × window`; 0 when it fits. */
  waitMs(now: number, cost: number): number {
    const over = this.level(now) + cost - this.capacity;
    // Multiply before dividing: with integer figures the result is then exact (955 × 60000 / 50000 = 1146).
    return over > EPSILON ? (over * this.windowMs) / this.limit : 0;
  }

  /** Whole units left: `floor(capacity − level)`, never negative. */
  remaining(now: number): number {
    const left = Math.floor(this.capacity - this.level(now) + EPSILON);
    return left > 0 ? left : 0;
  }

  /** The level as OpenAI quotes it in "Used N": rounded up to an integer. */
  used(now: number): number {
    const used = Math.ceil(this.level(now) - EPSILON);
    return used > 0 ? used : 0;
  }

  /** Milliseconds until the bucket holds no usage (fully refilled): `level / limit × window`. */
  resetMs(now: number): number {
    return (this.level(now) * this.windowMs) / this.limit;
  }
}
