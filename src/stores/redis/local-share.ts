/**
 * What the Redis store decides with while Redis is unreachable: this process's share of each limit, in
 * memory. Every bucket's limit, capacity and margin are divided by the number of live instances last
 * counted in Redis, so that all processes together stay within the limit — never the whole limit in each.
 *
 * A request larger than its share's capacity (but within the real capacity) is admitted alone, once the
 * share's bucket is empty, rather than refused as never fitting: over time the process still stays within
 * its share, and the engine does not fail a request that the real limit allows.
 *
 * Levels are kept in real units (what was charged), so that when Redis answers again they can be handed
 * back as they are: `take()` gives them to the Redis store, which adds them to the lane in Redis.
 */
import type { BucketSpec, CostVector } from '../../engine/limits.js';
import type { LaneSnapshot, Reservation } from '../../engine/store.js';
import { MemoryStore } from '../memory.js';

/** A lane's local state, to be added to Redis. */
export interface LocalLane {
  buckets: readonly BucketSpec[];
  /** Units charged locally and not yet drained, by bucket id (real units, not scaled). */
  levels: Record<string, number>;
  /** Epoch ms (caller's clock) until which the lane was paused locally; 0 when not paused. */
  cooldownUntil: number;
}

export class LocalShare {
  readonly #memory = new MemoryStore();
  readonly #buckets = new Map<string, readonly BucketSpec[]>();
  #divisor = 1;

  /** The number of instances each limit is divided by. */
  get divisor(): number {
    return this.#divisor;
  }

  set divisor(n: number) {
    this.#divisor = Math.max(1, n);
  }

  /** Lanes with local state. */
  lanes(): string[] {
    return [...this.#buckets.keys()];
  }

  #scale(buckets: readonly BucketSpec[], cost?: CostVector): BucketSpec[] {
    const n = this.#divisor;
    return buckets.map((spec) => {
      const c = cost?.[spec.dimension] ?? 0;
      const scaled: BucketSpec = {
        ...spec,
        limit: spec.limit / n,
        capacity: Math.max(spec.capacity / n, Math.min(c, spec.capacity)),
      };
      if (spec.margin !== undefined) scaled.margin = spec.margin / n;
      return scaled;
    });
  }

  #seen(lane: string, buckets: readonly BucketSpec[]): void {
    this.#buckets.set(lane, buckets);
  }

  reserve(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number): Reservation {
    this.#seen(lane, buckets);
    return this.#memory.reserve(lane, this.#scale(buckets, cost), cost, now);
  }

  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): void {
    this.#seen(lane, buckets);
    this.#memory.adjust(lane, this.#scale(buckets), delta, now);
  }

  /** The server's levels are the whole lane's; this process's share of them is level ÷ divisor. */
  raise(lane: string, buckets: readonly BucketSpec[], levels: Record<string, number>, now: number): void {
    this.#seen(lane, buckets);
    const share: Record<string, number> = {};
    for (const [id, level] of Object.entries(levels)) share[id] = level / this.#divisor;
    this.#memory.raise(lane, this.#scale(buckets), share, now);
  }

  cooldown(lane: string, until: number, now: number): void {
    this.#buckets.set(lane, this.#buckets.get(lane) ?? []);
    this.#memory.cooldown(lane, until, now);
  }

  /** Levels as the whole lane would have them if every instance were as busy as this one (× divisor). */
  snapshot(lane: string, buckets: readonly BucketSpec[], now: number): LaneSnapshot {
    const snap = this.#memory.snapshot(lane, this.#scale(buckets), now);
    for (const id of Object.keys(snap.levels)) snap.levels[id] = snap.levels[id]! * this.#divisor;
    return snap;
  }

  clear(lane: string): void {
    this.#buckets.delete(lane);
    this.#memory.clear(lane);
  }

  /** The lane's local state (real units) for handing back to Redis, or undefined when it has none. */
  peek(lane: string, now: number): LocalLane | undefined {
    const buckets = this.#buckets.get(lane);
    if (!buckets) return undefined;
    const snap = this.#memory.snapshot(lane, this.#scale(buckets), now);
    return { buckets, levels: snap.levels, cooldownUntil: snap.cooldownUntil };
  }
}
