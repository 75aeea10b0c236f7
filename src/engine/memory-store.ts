/**
 * The default store: limiter state in this process's memory. Zero set-up; limits are per process.
 */
import {
  charge,
  levelAt,
  negate,
  waitFor,
  type BucketSpec,
  type BucketState,
  type CostVector,
} from './limits.js';
import {
  PRIORITY_GRACE_MS,
  PRIORITY_POLL_MS,
  type Claim,
  type LaneSnapshot,
  type Learned,
  type LearnedLimits,
  type Reservation,
  type Store,
  type TripRecord,
  drainingAs,
} from './store.js';

interface Trip {
  record: TripRecord;
  probeAt: number;
  intervalMs: number;
}

interface LaneState {
  buckets: Map<string, BucketState>;
  /**
   * The server's last word on each bucket (`raise`), draining like the level: `refund` never takes a
   * level below it, since the server counted that much without the refunded charge.
   */
  floors: Map<string, BucketState> | undefined;
  cooldownUntil: number;
  touched: number;
  trip: Trip | undefined;
  /** When the waiting interactive (0) and default (1) requests expect to fit; 0 when none waits. */
  waits: [number, number];
  /** Who registered each wait. */
  owners: [string, string];
  /** The version of the lane's learned limits (kept in `#learned`, which outlives `clear`); 0 for none. */
  learned: number;
  /** Leased concurrency slots of the lane: id → lease end. */
  slots: Map<string, number> | undefined;
  /** Leased slots of each tenant's set (by the set's id): id → lease end. */
  tenantSlots: Map<string, Map<string, number>> | undefined;
  /** The tenant set each slot in `tenantSlots` was leased in, for `release`. */
  slotTenant: Map<string, string> | undefined;
}

export interface MemoryStoreOptions {
  /**
   * Lanes idle for longer than this are forgotten (their buckets have long refilled).
   * @default 172_800_000 (two days, longer than any per-day window)
   */
  idleMs?: number;
  /**
   * How long a concurrency slot stays leased when it is not released. In one process nothing dies
   * without the store, so leases last until released unless this is set.
   * @default Infinity
   */
  leaseMs?: number;
}

export class MemoryStore implements Store {
  readonly #lanes = new Map<string, LaneState>();
  /** Learned limits outlive `clear` (an operator reset keeps what was learned). */
  readonly #learned = new Map<string, { version: number; record: LearnedLimits }>();
  readonly #idleMs: number;
  readonly #leaseMs: number;
  #sweepAt = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.#idleMs = options.idleMs ?? 172_800_000;
    this.#leaseMs = options.leaseMs ?? Infinity;
  }

  #lane(lane: string, now: number): LaneState {
    let state = this.#lanes.get(lane);
    if (!state) {
      if (now >= this.#sweepAt) this.#sweep(now);
      state = {
        buckets: new Map(),
        floors: undefined,
        cooldownUntil: 0,
        touched: now,
        trip: undefined,
        waits: [0, 0],
        owners: ['', ''],
        learned: this.#learned.get(lane)?.version ?? 0,
        slots: undefined,
        tenantSlots: undefined,
        slotTenant: undefined,
      };
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

  reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim?: Claim,
  ): Reservation {
    const state = this.#lane(lane, now);
    const learned = state.learned === 0 ? undefined : state.learned;
    if (state.cooldownUntil > now) return refusal(state.cooldownUntil - now, 'cooldown', learned);
    const trip = state.trip;
    if (trip && trip.probeAt > now) {
      const r = refusal(trip.probeAt - now, 'tripped', learned);
      r.trip = trip.record;
      return r;
    }
    const rank = claim?.rank ?? 1;
    const waits = state.waits;
    if (waits[0] !== 0 || waits[1] !== 0) this.#lapse(state, now);
    for (let r = 0; r < rank && r < 2 && (waits[0] !== 0 || waits[1] !== 0); r++) {
      const due = waits[r]!;
      if (due !== 0 && state.owners[r] !== claim?.owner)
        return refusal(due > now ? due - now : PRIORITY_POLL_MS, 'priority', learned);
    }
    const specs = this.#draining(lane, state, buckets, claim?.learned);
    let worst = 0;
    let blockedBy: string | undefined;
    let index = -1;
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      const wait = waitFor(spec, state.buckets.get(spec.id), cost[spec.dimension] ?? 0, now);
      if (wait > worst) {
        worst = wait;
        blockedBy = spec.id;
        index = i;
      }
    }
    const slot = claim?.slot;
    if (worst === 0 && slot?.tenant) {
      // The tenant's own set first: when it is full, the tenant waits, not the lane (no wait registered).
      const sets = (state.tenantSlots ??= new Map());
      let set = sets.get(slot.tenant.id);
      if (!set) sets.set(slot.tenant.id, (set = new Map()));
      const wait = fullFor(set, slot.tenant.max, now, state.slotTenant);
      if (wait > 0) {
        worst = wait;
        blockedBy = slot.tenant.id;
      }
    }
    if (worst === 0 && slot?.max !== undefined) {
      const wait = fullFor((state.slots ??= new Map()), slot.max, now);
      if (wait > 0) {
        worst = wait;
        blockedBy = 'concurrency';
        index = specs.length;
      }
    }
    if (worst > 0) {
      if (claim && rank < 2 && index >= claim.own && worst !== Infinity) {
        const due = now + worst;
        const prior = state.waits[rank]!;
        if (prior === 0 || due > prior || now >= prior + PRIORITY_GRACE_MS) {
          state.waits[rank] = due;
          state.owners[rank] = claim.owner;
        }
      }
      return refusal(worst, blockedBy, learned);
    }
    for (const spec of specs) {
      const c = cost[spec.dimension];
      if (c) state.buckets.set(spec.id, charge(spec, state.buckets.get(spec.id), c, now));
    }
    if (slot) {
      const end = now + this.#leaseMs;
      if (slot.max !== undefined) state.slots!.set(slot.id, end);
      if (slot.tenant) {
        state.tenantSlots!.get(slot.tenant.id)!.set(slot.id, end);
        (state.slotTenant ??= new Map()).set(slot.id, slot.tenant.id);
      }
    }
    if (claim?.last && rank < 2 && state.owners[rank] === claim.owner) state.waits[rank] = 0;
    const ok: Reservation =
      learned === undefined ? { ok: true, waitMs: 0 } : { ok: true, waitMs: 0, learned };
    if (trip) {
      trip.probeAt = now + trip.intervalMs;
      ok.probe = true;
    }
    return ok;
  }

  /**
   * The specs as a caller holding learned version `learned` drains them. A caller behind the store's
   * version is stale (see `Store`): each bucket the store's learning names drains at that learning's
   * limit, not at the caller's.
   */
  #draining(
    lane: string,
    state: LaneState,
    buckets: readonly BucketSpec[],
    learned: number | undefined,
  ): readonly BucketSpec[] {
    if (learned === undefined || learned >= state.learned) return buckets;
    const record = this.#learned.get(lane)?.record;
    return record ? drainingAs(buckets, record) : buckets;
  }

  /** Forgets registered waits that lapsed ({@link PRIORITY_GRACE_MS} past the time they named). */
  #lapse(state: LaneState, now: number): void {
    for (let r = 0; r < 2; r++) {
      const due = state.waits[r]!;
      if (due !== 0 && now >= due + PRIORITY_GRACE_MS) state.waits[r] = 0;
    }
  }

  release(lane: string, slotId: string, _now: number): void {
    const state = this.#lanes.get(lane);
    if (!state) return;
    state.slots?.delete(slotId);
    const tenant = state.slotTenant?.get(slotId);
    if (tenant !== undefined) {
      state.slotTenant!.delete(slotId);
      const set = state.tenantSlots?.get(tenant);
      set?.delete(slotId);
      if (set?.size === 0) state.tenantSlots!.delete(tenant);
    }
  }

  trip(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): void {
    const state = this.#lane(lane, now);
    state.trip = { record: { ...trip }, probeAt: now + probeIntervalMs, intervalMs: probeIntervalMs };
  }

  untrip(lane: string, _now: number): void {
    const state = this.#lanes.get(lane);
    if (state) state.trip = undefined;
  }

  learn(lane: string, version: number, record: LearnedLimits | undefined, _now: number): Learned {
    const stored = this.#learned.get(lane);
    const current = stored?.version ?? 0;
    if (record !== undefined && version === current) {
      const copy = structuredClone(record);
      this.#learned.set(lane, { version: current + 1, record: copy });
      const state = this.#lanes.get(lane);
      if (state) state.learned = current + 1;
      return { applied: true, version: current + 1, record: structuredClone(copy) };
    }
    return stored
      ? { applied: false, version: current, record: structuredClone(stored.record) }
      : { applied: false, version: 0 };
  }

  adjust(
    lane: string,
    buckets: readonly BucketSpec[],
    delta: CostVector,
    now: number,
    learned?: number,
  ): void {
    this.#add(lane, buckets, delta, now, false, learned);
  }

  refund(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    learned?: number,
  ): void {
    this.#add(lane, buckets, negate(cost), now, true, learned);
  }

  /** Adds `delta` to the buckets; `bounded`: never below the server's last word. */
  #add(
    lane: string,
    buckets: readonly BucketSpec[],
    delta: CostVector,
    now: number,
    bounded: boolean,
    learned: number | undefined,
  ): void {
    const state = this.#lane(lane, now);
    for (const spec of this.#draining(lane, state, buckets, learned)) {
      const d = delta[spec.dimension];
      if (!d) continue;
      const next = charge(spec, state.buckets.get(spec.id), d, now);
      if (bounded) next.level = Math.max(next.level, levelAt(spec, state.floors?.get(spec.id), now));
      state.buckets.set(spec.id, next);
    }
  }

  raise(
    lane: string,
    buckets: readonly BucketSpec[],
    levels: Record<string, number>,
    now: number,
    learned?: number,
  ): void {
    const state = this.#lane(lane, now);
    for (const spec of this.#draining(lane, state, buckets, learned)) {
      const target = levels[spec.id];
      if (target === undefined) continue;
      const current = levelAt(spec, state.buckets.get(spec.id), now);
      if (target > current) state.buckets.set(spec.id, { level: target, at: now });
      const floors = (state.floors ??= new Map());
      if (target > levelAt(spec, floors.get(spec.id), now)) floors.set(spec.id, { level: target, at: now });
    }
  }

  cooldown(lane: string, until: number, now: number): void {
    const state = this.#lane(lane, now);
    if (until > state.cooldownUntil) state.cooldownUntil = until;
  }

  snapshot(lane: string, buckets: readonly BucketSpec[], now: number, learned?: number): LaneSnapshot {
    const state = this.#lanes.get(lane);
    const specs = state ? this.#draining(lane, state, buckets, learned) : buckets;
    const levels: Record<string, number> = {};
    for (const spec of specs) levels[spec.id] = levelAt(spec, state?.buckets.get(spec.id), now);
    return { levels, cooldownUntil: state && state.cooldownUntil > now ? state.cooldownUntil : 0 };
  }

  clear(lane: string): void {
    this.#lanes.delete(lane);
  }
}

/**
 * How long until a set of leases has room for one more: 0 when it has room now, else the time until its
 * first lease lapses, at most {@link PRIORITY_POLL_MS} (a slot released elsewhere sends no signal).
 * Forgets lapsed leases (and their entry in `owners`, the tenant index).
 */
function fullFor(set: Map<string, number>, max: number, now: number, owners?: Map<string, string>): number {
  if (set.size < max) return 0;
  let first = Infinity;
  for (const [id, end] of set) {
    if (end <= now) {
      set.delete(id);
      owners?.delete(id);
    } else if (end < first) first = end;
  }
  return set.size < max ? 0 : Math.min(first - now, PRIORITY_POLL_MS);
}

function refusal(waitMs: number, blockedBy: string | undefined, learned: number | undefined): Reservation {
  const r: Reservation = blockedBy === undefined ? { ok: false, waitMs } : { ok: false, waitMs, blockedBy };
  if (learned !== undefined) r.learned = learned;
  return r;
}
