/**
 * What the Redis store decides with while Redis is unreachable: this process's share of each limit, in
 * memory. Every bucket's limit, capacity and margin are divided by the number of live instances last
 * counted in Redis, so that all processes together stay within the limit — never the whole limit in each.
 *
 * A request larger than its share's capacity (but within the real capacity) is admitted alone, once the
 * share's bucket is empty, rather than refused as never fitting: over time the process still stays within
 * its share, and the engine does not fail a request that the real limit allows.
 *
 * A lane starts from its share of the levels Redis last reported for it (`seed`), so that what was spent
 * just before the outage still counts. Levels are kept in real units; when Redis answers again, `peek()`
 * gives the Redis store what was charged here beyond the seed, which it adds to the lane in Redis.
 */
import { levelAt, type BucketSpec, type BucketState, type CostVector } from '../../engine/limits.js';
import type {
  Claim,
  LaneSnapshot,
  Learned,
  LearnedLimits,
  Reservation,
  SlotClaim,
  TripRecord,
} from '../../engine/store.js';
import { MemoryStore } from '../../engine/memory-store.js';

/** A lane's local state, to be added to Redis. */
export interface LocalLane {
  buckets: readonly BucketSpec[];
  /** Units charged locally (beyond the seed) and not yet drained, by bucket id (real units, not scaled). */
  levels: Record<string, number>;
  /** What is left of the seed (this instance's share of the levels Redis last reported), by bucket id. */
  seeds: Record<string, number>;
  /** Epoch ms (caller's clock) until which the lane was paused locally; 0 when not paused. */
  cooldownUntil: number;
}

export class LocalShare {
  readonly #memory = new MemoryStore();
  readonly #buckets = new Map<string, readonly BucketSpec[]>();
  readonly #seeds = new Map<string, Map<string, BucketState>>();
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

  has(lane: string): boolean {
    return this.#buckets.has(lane);
  }

  /**
   * Starts a lane from this instance's share of the levels Redis last reported (`levels`, the whole
   * lane's, at caller time `at`). Only for a lane without local state.
   */
  seed(lane: string, buckets: readonly BucketSpec[], levels: Record<string, number>, at: number): void {
    if (this.#buckets.has(lane)) return;
    const seeds = new Map<string, BucketState>();
    const share: Record<string, number> = {};
    for (const spec of buckets) {
      const level = (levels[spec.id] ?? 0) / this.#divisor;
      if (level <= 0) continue;
      share[spec.id] = level;
      seeds.set(spec.id, { level, at });
    }
    this.#seen(lane, buckets);
    this.#seeds.set(lane, seeds);
    // Charged, not raised: these are the lane's levels, not the server's word (which bounds refunds).
    for (const spec of this.#scale(buckets)) {
      const level = share[spec.id];
      if (level) this.#memory.adjust(lane, [spec], { [spec.dimension]: level }, at);
    }
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

  /** A claim's concurrency slots, the lane's and the tenant's, are divided like the limits (at least one). */
  reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim?: Claim,
  ): Reservation {
    this.#seen(lane, buckets);
    const slot = claim?.slot;
    let local = claim;
    if (slot && this.#divisor > 1) {
      const share = (max: number) => Math.max(1, Math.floor(max / this.#divisor));
      const divided: SlotClaim = { id: slot.id };
      if (slot.max !== undefined) divided.max = share(slot.max);
      if (slot.tenant) divided.tenant = { id: slot.tenant.id, max: share(slot.tenant.max) };
      local = { ...claim, slot: divided };
    }
    return this.#memory.reserve(lane, this.#scale(buckets, cost), cost, now, local);
  }

  release(lane: string, slotId: string, now: number): void {
    this.#memory.release(lane, slotId, now);
  }

  trip(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): void {
    this.#memory.trip(lane, trip, probeIntervalMs, now);
  }

  untrip(lane: string, now: number): void {
    this.#memory.untrip(lane, now);
  }

  learn(lane: string, version: number, record: LearnedLimits | undefined, now: number): Learned {
    return this.#memory.learn(lane, version, record, now);
  }

  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): void {
    this.#seen(lane, buckets);
    this.#memory.adjust(lane, this.#scale(buckets), delta, now);
  }

  refund(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number): void {
    this.#seen(lane, buckets);
    this.#memory.refund(lane, this.#scale(buckets), cost, now);
  }

  /** The server's levels are the whole lane's; this process's share of them is level ÷ divisor. */
  raise(lane: string, buckets: readonly BucketSpec[], levels: Record<string, number>, now: number): void {
    this.#seen(lane, buckets);
    const share: Record<string, number> = {};
    for (const [id, level] of Object.entries(levels)) share[id] = level / this.#divisor;
    this.#memory.raise(lane, this.#scale(buckets), share, now);
  }

  /** Adds `units` (real units, by bucket id) to the lane's buckets. */
  charge(lane: string, buckets: readonly BucketSpec[], units: Record<string, number>, now: number): void {
    this.#seen(lane, buckets);
    for (const spec of this.#scale(buckets)) {
      const u = units[spec.id];
      if (u) this.#memory.adjust(lane, [spec], { [spec.dimension]: u }, now);
    }
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
    this.#seeds.delete(lane);
    this.#memory.clear(lane);
  }

  /**
   * What this instance added to the lane locally (real units, beyond the seed, both drained to `now`) and
   * its local cooldown, for handing back to Redis; undefined when the lane has no local state.
   */
  peek(lane: string, now: number): LocalLane | undefined {
    const buckets = this.#buckets.get(lane);
    if (!buckets) return undefined;
    const scaled = this.#scale(buckets);
    const snap = this.#memory.snapshot(lane, scaled, now);
    const seeded = this.#seeds.get(lane);
    const seeds: Record<string, number> = {};
    for (const spec of scaled) {
      const level = snap.levels[spec.id]!;
      const seed = Math.min(level, levelAt(spec, seeded?.get(spec.id), now));
      seeds[spec.id] = seed;
      snap.levels[spec.id] = level - seed;
    }
    return { buckets, levels: snap.levels, seeds, cooldownUntil: snap.cooldownUntil };
  }
}
