/**
 * The Redis store: lanes shared by every process that points at the same Redis and prefix.
 *
 * Each operation is one Lua script (one round trip): a reservation checks the cooldown and every bucket
 * and charges all of them or none, with the engine's own bucket math. When Redis stops answering (a
 * command times out or fails), the store switches to its `onOutage` behaviour at once and tries Redis
 * again every `probeMs`; when Redis answers, it switches back and hands each lane's local charges back
 * to Redis before that lane's next decision there, so an outage does not let a lane exceed its limit.
 */
import type { BucketSpec, CostVector } from '../../engine/limits.js';
import type { LaneSnapshot, Reservation, Store } from '../../engine/store.js';
import { createOwnedClient, type OwnedClient, type RedisScriptClient } from './client.js';
import { instancesKey, laneKey } from './keys.js';
import { LocalShare } from './local-share.js';
import {
  REDIS_STORE_DEFAULTS,
  resolveOptions,
  type RedisStatusChange,
  type RedisStoreOptions,
  type RedisStoreStatus,
  type ResolvedRedisStoreOptions,
} from './options.js';
import { bucketValueArgs, reserveArgs, snapshotArgs, toReservation, toSnapshot } from './replies.js';
import { SCRIPTS, ScriptRunner, type LuaScript } from './scripts.js';

type Arg = string | number;

export class RedisStore implements Store {
  readonly #options: ResolvedRedisStoreOptions;
  readonly #owned: OwnedClient | undefined;
  readonly #runner: ScriptRunner;
  readonly #local = new LocalShare();
  readonly #timeFlag: '1' | '0';
  #status: RedisStoreStatus = 'redis';
  #processes = 0;
  /** Lanes whose local state must go back to Redis before their next decision there. */
  readonly #pending = new Set<string>();
  /** Lanes cleared during an outage: cleared in Redis too when it answers again. */
  readonly #cleared = new Set<string>();
  readonly #handing = new Map<string, Promise<void>>();
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
    this.#local.divisor = this.#options.expectedProcesses;
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
    return this.#local.divisor;
  }

  #key(lane: string): string {
    return laneKey(this.#options.prefix, lane);
  }

  #head(now: number): Arg[] {
    return [now, this.#timeFlag, this.#options.idleMs];
  }

  #run(script: LuaScript, lane: string, args: readonly Arg[]): Promise<unknown> {
    return this.#runner.run(script, this.#key(lane), args);
  }

  /** Runs `op` in Redis when it answers; otherwise (or when `op` fails) answers with `fallback`. */
  async #either<T>(lane: string, now: number, op: () => Promise<T>, fallback: () => T): Promise<T> {
    if (this.#status === 'redis') {
      try {
        if (this.#pending.size > 0 && this.#pending.has(lane)) await this.#handBackOnce(lane, now);
        return await op();
      } catch (err) {
        this.#outage(err);
      }
    }
    return fallback();
  }

  reserve(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number): Promise<Reservation> {
    return this.#either(
      lane,
      now,
      async () =>
        toReservation(
          await this.#run(SCRIPTS.reserve, lane, reserveArgs(this.#head(now), buckets, cost)),
          buckets,
        ),
      () =>
        this.#status === 'fail-closed'
          ? { ok: false, waitMs: this.#options.probeMs, blockedBy: 'redis' }
          : this.#local.reserve(lane, buckets, cost, now),
    );
  }

  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): Promise<void> {
    const entries: [BucketSpec, number][] = [];
    for (const spec of buckets) {
      const d = delta[spec.dimension];
      if (d) entries.push([spec, d]);
    }
    if (entries.length === 0) return Promise.resolve();
    return this.#either(
      lane,
      now,
      async () => void (await this.#run(SCRIPTS.adjust, lane, bucketValueArgs(this.#head(now), entries))),
      () => this.#local.adjust(lane, buckets, delta, now),
    );
  }

  raise(
    lane: string,
    buckets: readonly BucketSpec[],
    levels: Record<string, number>,
    now: number,
  ): Promise<void> {
    const entries: [BucketSpec, number][] = [];
    for (const spec of buckets) {
      const target = levels[spec.id];
      if (target !== undefined) entries.push([spec, target]);
    }
    if (entries.length === 0) return Promise.resolve();
    return this.#either(
      lane,
      now,
      async () => void (await this.#run(SCRIPTS.raise, lane, bucketValueArgs(this.#head(now), entries))),
      () => this.#local.raise(lane, buckets, levels, now),
    );
  }

  cooldown(lane: string, until: number, now: number): Promise<void> {
    return this.#either(
      lane,
      now,
      async () => void (await this.#run(SCRIPTS.cooldown, lane, [...this.#head(now), until])),
      () => this.#local.cooldown(lane, until, now),
    );
  }

  snapshot(lane: string, buckets: readonly BucketSpec[], now: number): Promise<LaneSnapshot> {
    return this.#either(
      lane,
      now,
      async () =>
        toSnapshot(
          await this.#run(SCRIPTS.snapshot, lane, snapshotArgs([now, this.#timeFlag], buckets)),
          buckets,
          now,
        ),
      () => this.#local.snapshot(lane, buckets, now),
    );
  }

  async clear(lane: string): Promise<void> {
    this.#local.clear(lane);
    if (this.#status === 'redis') {
      try {
        await this.#run(SCRIPTS.clear, lane, []);
        this.#cleared.delete(lane);
        this.#pending.delete(lane);
        return;
      } catch (err) {
        this.#outage(err);
      }
    }
    this.#cleared.add(lane);
  }

  /** Stops the heartbeat, leaves the set of live instances and closes the client the store made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#status === 'redis') {
      await this.#beat(false).catch(() => {});
    }
    await this.#owned?.close();
  }

  // --- outage and recovery ---

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
    this.#options.onStatus?.(change);
  }

  #outage(err: unknown): void {
    if (this.#status !== 'redis' || this.#closed) return;
    this.#local.divisor = Math.max(this.#options.expectedProcesses, this.#processes);
    this.#setStatus(this.#options.onOutage, err instanceof Error ? err.message : String(err));
    this.#schedule(this.#options.probeMs);
  }

  #recover(): void {
    if (this.#status === 'redis') return;
    for (const lane of this.#local.lanes()) this.#pending.add(lane);
    for (const lane of this.#cleared) this.#pending.add(lane);
    this.#setStatus('redis', 'Redis answered again');
  }

  #handBackOnce(lane: string, now: number): Promise<void> {
    let pending = this.#handing.get(lane);
    if (!pending) {
      pending = this.#handBack(lane, now).finally(() => this.#handing.delete(lane));
      this.#handing.set(lane, pending);
    }
    return pending;
  }

  /** Adds what this process charged locally during the outage to the lane in Redis, then forgets it. */
  async #handBack(lane: string, now: number): Promise<void> {
    if (this.#cleared.has(lane)) {
      await this.#run(SCRIPTS.clear, lane, []);
      this.#cleared.delete(lane);
    }
    const local = this.#local.peek(lane, now);
    if (local) {
      const entries: [BucketSpec, number][] = [];
      for (const spec of local.buckets) {
        const level = local.levels[spec.id] ?? 0;
        if (level > 0) entries.push([spec, level]);
      }
      if (entries.length > 0)
        await this.#run(SCRIPTS.adjust, lane, bucketValueArgs(this.#head(now), entries));
      if (local.cooldownUntil > now)
        await this.#run(SCRIPTS.cooldown, lane, [...this.#head(now), local.cooldownUntil]);
      this.#local.clear(lane);
    }
    this.#pending.delete(lane);
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
      await this.#beat(true);
      this.#recover();
    } catch (err) {
      this.#outage(err);
    } finally {
      this.#beating = false;
    }
    this.#schedule(this.#status === 'redis' ? this.#options.heartbeatMs : this.#options.probeMs);
  }

  async #beat(join: boolean): Promise<void> {
    const count = await this.#runner.run(SCRIPTS.heartbeat, instancesKey(this.#options.prefix), [
      this.#options.instanceId,
      this.#options.instanceTtlMs,
      join ? '1' : '0',
    ]);
    if (join && typeof count === 'number') this.#processes = count;
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
