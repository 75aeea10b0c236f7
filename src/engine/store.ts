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
 * `storeContract` checks each of these.
 */
import type { BucketSpec, CostVector } from './limits.js';

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
   * buckets were given), or `cooldown`.
   */
  blockedBy?: string;
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
  ): MaybePromise<Reservation>;
  /** Adds `delta` (negative refunds) to the buckets, e.g. to settle an estimate against actual usage. */
  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): MaybePromise<void>;
  /**
   * Raises bucket levels to at least the given values (the server's last word); never lowers them, so
   * the local mirror is never more optimistic than the server.
   */
  raise(
    lane: string,
    buckets: readonly BucketSpec[],
    levels: Record<string, number>,
    now: number,
  ): MaybePromise<void>;
  /** Pauses the lane until `until` (epoch ms); a later pause extends it, an earlier one is ignored. */
  cooldown(lane: string, until: number, now: number): MaybePromise<void>;
  /** Reads levels and cooldown. */
  snapshot(lane: string, buckets: readonly BucketSpec[], now: number): MaybePromise<LaneSnapshot>;
  /** Forgets a lane's state (operator reset). */
  clear(lane: string): MaybePromise<void>;
  /** Releases connections and timers. */
  close?(): MaybePromise<void>;
}
