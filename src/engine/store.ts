/**
 * The Store holds the limiter state of lanes: bucket levels and cooldowns. The engine decides *what* to
 * ask; a store answers atomically. Every implementation (the default is `MemoryStore`) passes the one
 * contract suite in `store-contract.ts`.
 *
 * Methods may answer synchronously (memory) or with a promise (network stores); callers handle both.
 *
 * Buckets are named by the caller. Each call passes the buckets it concerns, and a store keeps one
 * state per (lane, `spec.id`):
 * - A lane's own buckets have ids like `tokens/60000`. A tenant's sub-limits ride on the same lane as
 *   buckets of their own, with ids like `tenant:batch-jobs:tokens/60000` (the name URI-encoded), so that
 *   one `reserve` charges the lane and the tenant at once, all or nothing. Different requests on a lane
 *   pass different sets (the lane's buckets with one tenant's, or with none).
 * - Ids are opaque: a store keys by the whole id and never parses one.
 * - A call touches only the buckets it names; the state of every other bucket of the lane stays as it is.
 * - The spec given for an id may differ from one call to the next (limits reconfigured or learned): the
 *   level carries over and is read with the spec of the call.
 * - Each call that reads a level names the version of the lane's learned limits the caller holds
 *   (`learned`). A caller behind the store's version is stale: it may still be on a limit higher than
 *   one another process has since learned. Each bucket the store's learned limits name drains, for it,
 *   at their limit, not at its own (see {@link drainingAs}): a stale process must not drain a shared
 *   level at its older, higher rate. Other callers drain at the limits they pass, so that new limits,
 *   configured or learned, apply at once.
 * `storeContract` checks each of these.
 *
 * Beyond bucket levels, a store holds what every process sharing it must agree on: the cooldown after a
 * 429, the tripped-quota state, the learned limits (versioned), concurrency slots of the lane and of its
 * tenants (leases: a lease of a process that died lapses) and which priority classes wait (see
 * {@link Claim}).
 */
import { negate, type BucketSpec, type CostVector } from './limits.js';

/** The answer to a reservation. Being limited is a value, not an error. */
export interface Reservation {
  /** True when the cost was charged to every bucket. Nothing is charged when false. */
  ok: boolean;
  /**
   * When not ok: milliseconds until the cost would fit, as far as the store knows now.
   * `Infinity` when it never can (the cost exceeds a bucket's capacity).
   */
  waitMs: number;
  /**
   * When not ok: id of the bucket with the longest wait (on a tie, the first of them in the order the
   * buckets were given), or `cooldown`, `tripped` (see `trip`), `priority` (a higher class waits on the
   * lane, see {@link Claim}), `concurrency` (every slot of the lane is leased) or the id of the claim's
   * tenant set (every slot of the tenant's is leased; see {@link SlotClaim}).
   */
  blockedBy?: string;
  /** When `blockedBy` is `tripped`: the trip as recorded; `waitMs` is the time until its next probe. */
  trip?: TripRecord;
  /**
   * The version of the lane's learned limits in the store (0 or absent: none). A caller that holds an
   * older version reads the newer one with `learn`.
   */
  learned?: number;
  /** When ok: this admission is a tripped lane's probe (a success should `untrip` it). */
  probe?: boolean;
}

/**
 * Priority classes, from the highest: `interactive`, `default`, `batch`. Within one process the engine's
 * queue orders them; across processes the store does, through the claim every reservation carries.
 */
export const PRIORITY_RANK = { interactive: 0, default: 1, batch: 2 } as const;

/**
 * What a reservation claims besides bucket units.
 *
 * Priority across processes: a reservation of class `rank` (0 or 1) that is refused by one of the
 * lane's own buckets or by the lane's concurrency registers that its class waits on the lane, until about
 * when it will fit (a tenant's own buckets and slots register nothing). While a higher class waits,
 * reservations of lower classes by other owners are refused with `blockedBy: 'priority'` (they wait
 * until the higher class should be admitted, then poll every {@link PRIORITY_POLL_MS}), so the room
 * that frees goes to the higher class whichever process asks first. Admitting the `last` waiting request
 * of its class ends its class's wait at once; otherwise a registered wait lapses {@link PRIORITY_GRACE_MS}
 * after the time it named.
 */
export interface Claim {
  /** 0 interactive, 1 default, 2 batch ({@link PRIORITY_RANK}). */
  rank: number;
  /** Buckets before this index are a tenant's own: a wait on them (or on its slots) registers nothing. */
  own: number;
  /** Whether this is the last request of its class waiting in this process. */
  last: boolean;
  /**
   * The caller's identity (one per engine). A caller never yields to waits it registered itself: its own
   * queue orders its classes.
   */
  owner: string;
  /** A concurrency slot to lease, on the lane, in a tenant's set, or both (see {@link SlotClaim}). */
  slot?: SlotClaim;
  /** The version of the lane's learned limits the caller holds (see {@link Store}: how levels drain). */
  learned?: number;
}

/**
 * A concurrency slot one attempt leases. A lane has one set of leases and each tenant on it a set of its
 * own (its `maxConcurrency`); the attempt takes one lease, under `id`, in every set the claim names, all
 * or nothing with the buckets, and `release(lane, id)` gives back all of them. A lease not released (its
 * process died) lapses; a live process renews the leases it holds.
 */
export interface SlotClaim {
  /** Unique per attempt. */
  id: string;
  /** At most this many leases on the lane at once; absent when the lane does not limit concurrency. */
  max?: number;
  /**
   * The tenant's own set: at most `max` leases in it at once. `id` names the set (opaque to the store,
   * like a bucket id: `tenant:<name>:concurrency`) and is the reservation's `blockedBy` when the set is
   * full, so the caller sees the tenant's own limit, as for its buckets.
   */
  tenant?: { id: string; max: number };
}

/** How long a registered wait of a higher class outlives the time it named. */
export const PRIORITY_GRACE_MS = 1000;
/** How often a lower class asks again once a higher class's wait is due (and how often a full lane's slots are polled). */
export const PRIORITY_POLL_MS = 10;

/** A lane tripped by an exhausted quota, as every process sharing the store sees it. */
export interface TripRecord {
  /** The error message every request fails with meanwhile. */
  message: string;
  /** The upstream's error code, e.g. `insufficient_quota`. */
  code?: string;
}

/** A lane's limits as learned from the server, shared so that every process starts from them. */
export interface LearnedLimits {
  /** Bucket specs learned from headers and 429 bodies. */
  buckets: BucketSpec[];
  /** Capacities found lower than the stated limit (bursts enforced early), by bucket id. */
  tightened: Record<string, number>;
}

/** The answer to `learn`. */
export interface Learned {
  /** Whether the given record was stored (the caller's version was the store's). */
  applied: boolean;
  /** The store's version now. */
  version: number;
  /** The store's record now (absent when none). */
  record?: LearnedLimits;
}

/** A lane's state as seen by the store, for metrics, headers and estimates. */
export interface LaneSnapshot {
  /** Level (units in use) of each bucket, by bucket id. */
  levels: Record<string, number>;
  /** Epoch ms until which the lane is paused; 0 when not paused. */
  cooldownUntil: number;
}

export type MaybePromise<T> = T | Promise<T>;

export interface Store {
  /**
   * Charges `cost` to every bucket of `lane` if it fits in all of them and the lane is not cooling
   * down; otherwise charges nothing and says how long to wait. All-or-nothing.
   */
  reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim?: Claim,
  ): MaybePromise<Reservation>;
  /** Adds `delta` (negative refunds) to the buckets, e.g. to settle an estimate against actual usage. */
  adjust(
    lane: string,
    buckets: readonly BucketSpec[],
    delta: CostVector,
    now: number,
    learned?: number,
  ): MaybePromise<void>;
  /**
   * Gives back `cost`, charged for a request the server never counted (refused, or never sent): `adjust`
   * by its negation, but never below the server's last word (`raise`, drained since), which counted
   * that much without it. A store without this method refunds with `adjust` (see {@link refund}).
   */
  refund?(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    learned?: number,
  ): MaybePromise<void>;
  /**
   * Raises bucket levels to at least the given values (the server's last word); never lowers them, so
   * the local mirror is never more optimistic than the server.
   */
  raise(
    lane: string,
    buckets: readonly BucketSpec[],
    levels: Record<string, number>,
    now: number,
    learned?: number,
  ): MaybePromise<void>;
  /** Pauses the lane until `until` (epoch ms); a later pause extends it, an earlier one is ignored. */
  cooldown(lane: string, until: number, now: number): MaybePromise<void>;
  /** Reads levels and cooldown. */
  snapshot(
    lane: string,
    buckets: readonly BucketSpec[],
    now: number,
    learned?: number,
  ): MaybePromise<LaneSnapshot>;
  /** Forgets a lane's state (operator reset): levels, cooldown, trip, waits and slots; not its learned limits. */
  clear(lane: string): MaybePromise<void>;

  // Shared lane state. A store without these methods leaves it to each process (its own memory).

  /** Gives back a concurrency slot leased by `reserve`, in the lane's set and its tenant's (idempotent). */
  release?(lane: string, slotId: string, now: number): MaybePromise<void>;
  /**
   * Records that the lane's quota is exhausted: every reservation is refused with `blockedBy: 'tripped'`
   * until `now + probeIntervalMs`; then one reservation is admitted (the probe) and the next probe is
   * another interval later, whichever process asks. `untrip` ends it.
   */
  trip?(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): MaybePromise<void>;
  /** Ends a trip (a request succeeded). */
  untrip?(lane: string, now: number): MaybePromise<void>;
  /**
   * Reads the lane's learned limits (`record` undefined) or replaces them, only if `version` is the
   * store's version (compare and set): a writer that has not seen a newer learning cannot overwrite it.
   * A successful write makes the version one higher.
   */
  learn?(
    lane: string,
    version: number,
    record: LearnedLimits | undefined,
    now: number,
  ): MaybePromise<Learned>;
  /** Releases connections and timers. */
  close?(): MaybePromise<void>;
}

/**
 * The specs as a stale caller drains them: each bucket the learned limits name with their limit (the
 * same id has the same window), every other one as given. Capacities stay the caller's: it reads the
 * newer learning before it sends (a reservation that shows it is given back).
 */
export function drainingAs(buckets: readonly BucketSpec[], learned: LearnedLimits): readonly BucketSpec[] {
  return buckets.map((spec) => {
    const newer = learned.buckets.find((b) => b.id === spec.id);
    return newer && newer.limit !== spec.limit ? { ...spec, limit: newer.limit } : spec;
  });
}

/** Gives back a charge the server never counted: with the store's `refund`, else with `adjust`. */
export function refund(
  store: Store,
  lane: string,
  buckets: readonly BucketSpec[],
  cost: CostVector,
  now: number,
  learned?: number,
): MaybePromise<void> {
  return store.refund
    ? store.refund(lane, buckets, cost, now, learned)
    : store.adjust(lane, buckets, negate(cost), now, learned);
}
