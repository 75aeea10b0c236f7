/**
 * The default store: limiter state in this process's memory. Zero set-up; limits are per process.
 */
import { charge, levelAt, waitFor, type BucketSpec, type BucketState, type CostVector } from './limits.js';
import type { LaneSnapshot, Reservation, Store } from './store.js';

interface LaneState {
  buckets: Map<string, BucketState>;
  cooldownUntil: number;
  touched: number;
}

export interface MemoryStoreOptions {
  /**
   * Lanes idle for longer than this are forgotten (their buckets have long refilled).
   * @default 172_800_000 (two days, longer than any per-day window)
   */
  idleMs?: number;
}

export class MemoryStore implements Store {
  readonly #lanes = new Map<string, LaneState>();
  readonly #idleMs: number;
  #sweepAt = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.#idleMs = options.idleMs ?? 172_800_000;
  }

  #lane(lane: string, now: number): LaneState {
    let state = this.#lanes.get(lane);
    if (!state) {
      if (now >= this.#sweepAt) this.#sweep(now);
      state = { buckets: new Map(), cooldownUntil: 0, touched: now };
      this.#lanes.set(lane, state);
    }
    state.touched = now;
    return state;
  }

  #sweep(now: number): void {
    this.#sweepAt = now + 60_000;
    for (const [key, state] of this.#lanes) {
      if (now - state.touched > this.#idleMs) this.#lanes.delete(key);
    }
  }

  reserve(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number): Reservation {
    const state = this.#lane(lane, now);
    if (state.cooldownUntil > now)
      return { ok: false, waitMs: state.cooldownUntil - now, blockedBy: 'cooldown' };
    let worst = 0;
    let blockedBy: string | undefined;
    for (const spec of buckets) {
      const wait = waitFor(spec, state.buckets.get(spec.id), cost[spec.dimension] ?? 0, now);
      if (wait > worst) {
        worst = wait;
        blockedBy = spec.id;
      }
    }
    if (worst > 0)
      return blockedBy === undefined ? { ok: false, waitMs: worst } : { ok: false, waitMs: worst, blockedBy };
    for (const spec of buckets) {
      const c = cost[spec.dimension];
      if (c) state.buckets.set(spec.id, charge(spec, state.buckets.get(spec.id), c, now));
    }
    return { ok: true, waitMs: 0 };
  }

  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): void {
    const state = this.#lane(lane, now);
    for (const spec of buckets) {
      const d = delta[spec.dimension];
      if (d) state.buckets.set(spec.id, charge(spec, state.buckets.get(spec.id), d, now));
    }
  }

  raise(lane: string, buckets: readonly BucketSpec[], levels: Record<string, number>, now: number): void {
    const state = this.#lane(lane, now);
    for (const spec of buckets) {
      const target = levels[spec.id];
      if (target === undefined) continue;
      const current = levelAt(spec, state.buckets.get(spec.id), now);
      if (target > current) state.buckets.set(spec.id, { level: target, at: now });
    }
  }

  cooldown(lane: string, until: number, now: number): void {
    const state = this.#lane(lane, now);
    if (until > state.cooldownUntil) state.cooldownUntil = until;
  }

  snapshot(lane: string, buckets: readonly BucketSpec[], now: number): LaneSnapshot {
    const state = this.#lanes.get(lane);
    const levels: Record<string, number> = {};
    for (const spec of buckets) levels[spec.id] = levelAt(spec, state?.buckets.get(spec.id), now);
    return { levels, cooldownUntil: state && state.cooldownUntil > now ? state.cooldownUntil : 0 };
  }

  clear(lane: string): void {
    this.#lanes.delete(lane);
  }
}
