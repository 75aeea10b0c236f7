/**
 * The Redis store: lanes shared by every process that points at the same Redis and prefix.
 *
 * Each operation is one Lua script (one round trip): a reservation checks the cooldown and every bucket
 * and charges all of them or none, with the engine's own bucket math. When Redis stops answering (a
 * command times out or fails), the store switches to its `onOutage` behaviour at once and tries Redis
 * again every `probeMs`. When Redis answers, the store first adds what it charged locally to the lanes in
 * Redis, then switches back, so an outage does not make Redis forget what was spent.
 */
import { randomBytes } from 'node:crypto';
import { negate, type BucketSpec, type CostVector } from '../../engine/limits.js';
import type {
  Claim,
  LaneSnapshot,
  Learned,
  LearnedLimits,
  Reservation,
  Store,
  TripRecord,
} from '../../engine/store.js';
import { createOwnedClient, type OwnedClient, type RedisScriptClient } from './client.js';
import { OutageFallback, type HandBack } from './fallback.js';
import { epochKey, instancesKey } from './keys.js';
import { LaneScripts } from './lane-scripts.js';
import { HeldLeases } from './leases.js';
import {
  REDIS_STORE_DEFAULTS,
  resolveOptions,
  type RedisStatusChange,
  type RedisStoreOptions,
  type RedisStoreStatus,
  type ResolvedRedisStoreOptions,
} from './options.js';
import { RESERVE_LEVEL_SCALE, RESERVE_LEVELS_AT } from './replies.js';
import { SCRIPTS, ScriptRunner } from './scripts.js';

/** How long the epoch outlives the last heartbeat. */
const EPOCH_TTL_MS = 7 * 86_400_000;

export class RedisStore implements Store {
  readonly #options: ResolvedRedisStoreOptions;
  readonly #owned: OwnedClient | undefined;
  readonly #runner: ScriptRunner;
  /** The lane operations' scripts. */
  readonly #lanes: LaneScripts;
  readonly #fallback = new OutageFallback();
  readonly #timeFlag: '1' | '0';
  #status: RedisStoreStatus = 'redis';
  #processes = 0;
  /** The epoch last read from Redis; a new one means Redis lost its data. */
  #epoch: string | undefined;
  /** The latest caller `now` seen, for handing back local state from the heartbeat. */
  #lastNow = 0;
  /** Concurrency slots this instance leased and has not released; renewed by the heartbeat. */
  readonly #leases = new HeldLeases();
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.#options = resolveOptions(options);
    let client: RedisScriptClient;
    if (this.#options.client) {
      client = this.#options.client;
    } else {
      this.#owned = createOwnedClient(this.#options.url ?? REDIS_STORE_DEFAULTS.url);
      client = this.#owned.client;
    }
    this.#runner = new ScriptRunner(client, this.#options.commandTimeoutMs);
    this.#timeFlag = this.#options.time === 'redis' ? '1' : '0';
    this.#lanes = new LaneScripts(this.#runner, {
      prefix: this.#options.prefix,
      timeFlag: this.#timeFlag,
      idleMs: this.#options.idleMs,
      leaseMs: this.#options.instanceTtlMs,
    });
    this.#fallback.divisor = this.#options.expectedProcesses;
    this.#schedule(0);
  }

  /** Where decisions come from right now: Redis, or the outage behaviour. */
  get status(): RedisStoreStatus {
    return this.#status;
  }

  /** Live store instances last counted in Redis (0 before the first heartbeat answered). */
  get processes(): number {
    return this.#processes;
  }

  /** The number each limit is divided by during an outage with `local-share`. */
  get share(): number {
    return this.#fallback.divisor;
  }

  /** Runs `op` in Redis when it answers; otherwise (or when `op` fails) answers with `fallback`. */
  async #either<T>(now: number, op: () => Promise<T>, fallback: () => T): Promise<T> {
    if (now > this.#lastNow) this.#lastNow = now;
    if (this.#status === 'redis') {
      try {
        return await op();
      } catch (err) {
        this.#outage(err);
      }
    }
    return fallback();
  }

  reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim?: Claim,
  ): Promise<Reservation> {
    return this.#either(
      now,
      async () => {
        const { value, reply } = await this.#lanes.reserve(lane, buckets, cost, now, claim);
        this.#fallback.remember(lane, buckets, reply, RESERVE_LEVELS_AT, RESERVE_LEVEL_SCALE, now);
        const slot = claim?.slot;
        if (value.ok && slot) this.#leases.hold(lane, slot.id, slot.tenant?.id ?? '', (slot.max ?? 0) > 0);
        return value;
      },
      () =>
        this.#status === 'fail-closed'
          ? { ok: false, waitMs: this.#options.probeMs, blockedBy: 'redis' }
          : this.#fallback.reserve(lane, buckets, cost, now, claim),
    );
  }

  release(lane: string, slotId: string, now: number): Promise<void> {
    const tenantSet = this.#leases.take(lane, slotId);
    if (tenantSet === undefined) {
      this.#fallback.release(lane, slotId, now);
      return Promise.resolve();
    }
    return this.#either(
      now,
      () => this.#lanes.release(lane, slotId, tenantSet),
      // Unreleased in Redis, the lease lapses instanceTtlMs after it was last renewed.
      () => this.#fallback.release(lane, slotId, now),
    );
  }

  trip(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): Promise<void> {
    return this.#either(
      now,
      () => this.#lanes.trip(lane, trip, probeIntervalMs, now),
      () => this.#fallback.trip(lane, trip, probeIntervalMs, now),
    );
  }

  untrip(lane: string, now: number): Promise<void> {
    return this.#either(
      now,
      () => this.#lanes.untrip(lane),
      () => this.#fallback.untrip(lane, now),
    );
  }

  learn(lane: string, version: number, record: LearnedLimits | undefined, now: number): Promise<Learned> {
    return this.#either(
      now,
      () => this.#lanes.learn(lane, version, record),
      () => this.#fallback.learn(lane, version, record, now),
    );
  }

  adjust(
    lane: string,
    buckets: readonly BucketSpec[],
    delta: CostVector,
    now: number,
    learned?: number,
  ): Promise<void> {
    return this.#add(lane, buckets, delta, now, false, learned, () =>
      this.#fallback.adjust(lane, buckets, delta, now),
    );
  }

  refund(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    learned?: number,
  ): Promise<void> {
    return this.#add(lane, buckets, negate(cost), now, true, learned, () =>
      this.#fallback.refund(lane, buckets, cost, now),
    );
  }

  /** adjust.lua: adds `delta`; `bounded`: never below the server's last word (a refund). */
  #add(
    lane: string,
    buckets: readonly BucketSpec[],
    delta: CostVector,
    now: number,
    bounded: boolean,
    learned: number | undefined,
    local: () => void,
  ): Promise<void> {
    const entries: [BucketSpec, number][] = [];
    for (const spec of buckets) {
      const d = delta[spec.dimension];
      if (d) entries.push([spec, d]);
    }
    if (entries.length === 0) return Promise.resolve();
    return this.#either(now, () => this.#lanes.adjust(lane, entries, now, bounded, learned), local);
  }

  raise(
    lane: string,
    buckets: readonly BucketSpec[],
    levels: Record<string, number>,
    now: number,
    learned?: number,
  ): Promise<void> {
    const entries: [BucketSpec, number][] = [];
    for (const spec of buckets) {
      const target = levels[spec.id];
      if (target !== undefined) entries.push([spec, target]);
    }
    if (entries.length === 0) return Promise.resolve();
    return this.#either(
      now,
      () => this.#lanes.raise(lane, entries, now, learned),
      () => this.#fallback.raise(lane, buckets, levels, now),
    );
  }

  cooldown(lane: string, until: number, now: number): Promise<void> {
    return this.#either(
      now,
      () => this.#lanes.cooldown(lane, until, now),
      () => this.#fallback.cooldown(lane, until, now),
    );
  }

  snapshot(
    lane: string,
    buckets: readonly BucketSpec[],
    now: number,
    learned?: number,
  ): Promise<LaneSnapshot> {
    return this.#either(
      now,
      async () => {
        const { value, reply } = await this.#lanes.snapshot(lane, buckets, now, learned);
        this.#fallback.remember(lane, buckets, reply, 1, 1, now);
        return value;
      },
      () => this.#fallback.snapshot(lane, buckets, now),
    );
  }

  clear(lane: string): Promise<void> {
    return this.#either(
      0,
      async () => {
        await this.#lanes.clear(lane);
        this.#leases.forget(lane);
        this.#fallback.clear(lane, false);
      },
      () => this.#fallback.clear(lane, true),
    );
  }

  /** Stops the heartbeat, leaves the set of live instances and closes the client the store made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#status === 'redis') await this.#beat(false).catch(() => {});
    await this.#owned?.close();
  }

  // --- outage and return ---

  #setStatus(status: RedisStoreStatus, reason: string): void {
    const previous = this.#status;
    if (previous === status) return;
    this.#status = status;
    const change: RedisStatusChange = {
      status,
      previous,
      reason,
      processes: this.#processes,
      at: Date.now(),
    };
    try {
      this.#options.onStatus?.(change);
    } catch {
      // A listener's failure must not reach the engine's hot path, which is where outages are noticed.
    }
  }

  #outage(err: unknown): void {
    if (this.#status !== 'redis' || this.#closed) return;
    this.#fallback.divisor = Math.max(this.#options.expectedProcesses, this.#processes);
    this.#setStatus(this.#options.onOutage, err instanceof Error ? err.message : String(err));
    this.#schedule(this.#options.probeMs);
  }

  /** Adds every lane's local state to Redis; on failure puts it back and throws (the outage goes on). */
  async #handBack(): Promise<void> {
    const now = this.#lastNow;
    const backs = this.#fallback.takeAll(now);
    const left = new Set(backs);
    try {
      for (const back of backs) {
        await this.#handBackLane(back, now);
        left.delete(back);
      }
    } catch (err) {
      this.#fallback.restore([...left], now);
      throw err;
    }
  }

  async #handBackLane(back: HandBack, now: number): Promise<void> {
    if (back.clear) await this.#lanes.clear(back.lane);
    if (back.add.length > 0) await this.#lanes.adjust(back.lane, back.add, now, false, undefined);
    if (back.cooldownUntil > now) await this.#lanes.cooldown(back.lane, back.cooldownUntil, now);
  }

  // --- heartbeat ---

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const epoch = await this.#beat(true);
      await this.#leases.renew(this.#runner, this.#options.prefix, [
        this.#lastNow,
        this.#timeFlag,
        this.#options.instanceTtlMs,
      ]);
      const lost = this.#epoch !== undefined && epoch !== this.#epoch;
      this.#epoch = epoch;
      if (this.#status !== 'redis') {
        if (lost) this.#fallback.redisLostData();
        await this.#handBack();
        this.#setStatus('redis', 'Redis answered again');
      }
    } catch (err) {
      this.#outage(err);
    } finally {
      this.#beating = false;
    }
    this.#schedule(this.#status === 'redis' ? this.#options.heartbeatMs : this.#options.probeMs);
  }

  /** Writes (or removes) this instance's heartbeat; counts live instances; returns the epoch. */
  async #beat(join: boolean): Promise<string | undefined> {
    const prefix = this.#options.prefix;
    const reply = await this.#runner.run(
      SCRIPTS.heartbeat,
      [instancesKey(prefix), epochKey(prefix)],
      [
        this.#options.instanceId,
        this.#options.instanceTtlMs,
        join ? '1' : '0',
        randomBytes(8).toString('hex'),
        EPOCH_TTL_MS,
      ],
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') {
      throw new Error(
        `heartbeat.lua answered ${JSON.stringify(reply)}, which this version does not understand.`,
      );
    }
    if (join) this.#processes = reply[0];
    return typeof reply[1] === 'string' ? reply[1] : undefined;
  }
}

/**
 * A Store in Redis, shared by every process with the same Redis and `prefix`.
 *
 * @example
 * import { createFetch } from 'sluice';
 * import { createRedisStore } from 'sluice/redis';
 * const store = createRedisStore({ url: process.env.REDIS_URL });
 * const fetch = createFetch({ store });
 */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}
