/**
 * What each of the Redis store's lane operations sends to Redis: the script, its keys (a lane's keys
 * share one hash slot) and its arguments, and the reply read back. Nothing here knows of outages: a
 * failure rejects, and the store answers from its fallback instead (`store.ts`).
 */
import type { BucketSpec, CostVector } from '../../engine/limits.js';
import type {
  Claim,
  LaneSnapshot,
  Learned,
  LearnedLimits,
  Reservation,
  TripRecord,
} from '../../engine/store.js';
import { laneKey, sharedKey, slotsKey, tenantSlotsKey } from './keys.js';
import {
  bucketValueArgs,
  reserveArgs,
  snapshotArgs,
  toLearned,
  toReservation,
  toSnapshot,
} from './replies.js';
import { SCRIPTS, type LuaScript, type ScriptRunner } from './scripts.js';

type Arg = string | number;

/** How long a lane's shared hash (learned limits, trip) outlives its last write. */
const SHARED_TTL_MS = 2 * 86_400_000;

export interface LaneScriptOptions {
  /** The store's key prefix. */
  prefix: string;
  /** Time source: '1' = Redis TIME, '0' = the caller's now. */
  timeFlag: '1' | '0';
  /** The least time a lane's state hash lives after a write. */
  idleMs: number;
  /** How long a concurrency lease lasts unless renewed. */
  leaseMs: number;
}

/** A script's reading of a lane and its raw reply (its levels are what an outage falls back on). */
export interface Read<T> {
  value: T;
  reply: unknown[];
}

export class LaneScripts {
  readonly #runner: ScriptRunner;
  readonly #options: LaneScriptOptions;

  constructor(runner: ScriptRunner, options: LaneScriptOptions) {
    this.#runner = runner;
    this.#options = options;
  }

  async reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim: Claim | undefined,
  ): Promise<Read<Reservation>> {
    const keys = this.#keys(lane);
    const set = claim?.slot?.tenant?.id;
    if (set !== undefined) keys.push(tenantSlotsKey(this.#options.prefix, lane, set));
    const args = reserveArgs(this.#head(now), buckets, cost, claim, this.#options.leaseMs);
    const reply = await this.#runner.run(SCRIPTS.reserve, keys, args);
    return { value: toReservation(reply, buckets, claim), reply: reply as unknown[] };
  }

  /** release.lua: gives back a lease in the lane's set and, unless `tenantSet` is '', in the tenant's. */
  async release(lane: string, slotId: string, tenantSet: string): Promise<void> {
    const prefix = this.#options.prefix;
    const keys = [slotsKey(prefix, lane)];
    if (tenantSet !== '') keys.push(tenantSlotsKey(prefix, lane, tenantSet));
    await this.#runner.run(SCRIPTS.release, keys, [slotId]);
  }

  async trip(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): Promise<void> {
    const args = [
      now,
      this.#options.timeFlag,
      probeIntervalMs,
      trip.message,
      trip.code ?? '',
      this.#sharedTtl(),
    ];
    await this.#runner.run(SCRIPTS.trip, [sharedKey(this.#options.prefix, lane)], args);
  }

  async untrip(lane: string): Promise<void> {
    await this.#runner.run(SCRIPTS.untrip, [sharedKey(this.#options.prefix, lane)], []);
  }

  async learn(lane: string, version: number, record: LearnedLimits | undefined): Promise<Learned> {
    const args = [version, record === undefined ? '' : JSON.stringify(record), this.#sharedTtl()];
    return toLearned(await this.#runner.run(SCRIPTS.learn, [sharedKey(this.#options.prefix, lane)], args));
  }

  /** adjust.lua: adds each entry's value to its bucket; `bounded`: never below the server's last word. */
  async adjust(
    lane: string,
    entries: readonly [BucketSpec, number][],
    now: number,
    bounded: boolean,
    learned: number | undefined,
  ): Promise<void> {
    const head = [...this.#head(now), bounded ? 1 : 0];
    await this.#levels(SCRIPTS.adjust, lane, bucketValueArgs(head, learned, entries));
  }

  /** raise.lua: lifts each entry's bucket to at least its value. */
  async raise(
    lane: string,
    entries: readonly [BucketSpec, number][],
    now: number,
    learned: number | undefined,
  ): Promise<void> {
    await this.#levels(SCRIPTS.raise, lane, bucketValueArgs(this.#head(now), learned, entries));
  }

  async cooldown(lane: string, until: number, now: number): Promise<void> {
    const key = laneKey(this.#options.prefix, lane);
    await this.#runner.run(SCRIPTS.cooldown, [key], [...this.#head(now), until]);
  }

  async snapshot(
    lane: string,
    buckets: readonly BucketSpec[],
    now: number,
    learned: number | undefined,
  ): Promise<Read<LaneSnapshot>> {
    const args = snapshotArgs([now, this.#options.timeFlag], learned, buckets);
    const reply = await this.#levels(SCRIPTS.snapshot, lane, args);
    return { value: toSnapshot(reply, buckets, now), reply: reply as unknown[] };
  }

  async clear(lane: string): Promise<void> {
    await this.#runner.run(SCRIPTS.clear, this.#keys(lane), []);
  }

  /** A lane's state hash, shared hash and lease set. */
  #keys(lane: string): string[] {
    const prefix = this.#options.prefix;
    return [laneKey(prefix, lane), sharedKey(prefix, lane), slotsKey(prefix, lane)];
  }

  #head(now: number): Arg[] {
    return [now, this.#options.timeFlag, this.#options.idleMs];
  }

  /** Runs a script that reads levels: it gets the lane's shared hash too (the learned limits). */
  #levels(script: LuaScript, lane: string, args: readonly Arg[]): Promise<unknown> {
    const prefix = this.#options.prefix;
    return this.#runner.run(script, [laneKey(prefix, lane), sharedKey(prefix, lane)], args);
  }

  #sharedTtl(): number {
    return Math.max(SHARED_TTL_MS, this.#options.idleMs);
  }
}
