/**
 * The Redis store's options: one object, every field with its default, the defaults in one constant,
 * checked when the store is built.
 */
import { randomBytes } from 'node:crypto';
import { sluiceError } from '../../engine/errors.js';
import type { RedisScriptClient } from './client.js';

/** Where the store's decisions come from right now. */
export type RedisStoreStatus = 'redis' | 'local-share' | 'fail-closed';

/** A change of `status`, for logs and metrics. */
export interface RedisStatusChange {
  status: RedisStoreStatus;
  previous: RedisStoreStatus;
  /** Why: the error or timeout that started an outage, or `Redis answered again`. */
  reason: string;
  /** Live store instances last counted in Redis (the divisor of a local share). */
  processes: number;
  /** Epoch ms (this host's clock) of the change. */
  at: number;
}

export interface RedisStoreOptions {
  /**
   * Redis to connect to. Ignored when `client` is given (pass one or the other).
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * A client to use instead of making one from `url` (an `ioredis` `Redis` or `Cluster`, or anything
   * with `evalsha` and `eval`). The store never closes a client it was given.
   */
  client?: RedisScriptClient;
  /**
   * Start of every key the store writes, so several applications can share one Redis. Must not contain
   * `{` or `}` (lane names are hash-tagged, for Redis Cluster).
   * @default 'sluice:'
   */
  prefix?: string;
  /**
   * Whose clock the bucket math runs on. `redis`: Redis's `TIME`, so hosts with skewed clocks share a lane
   * exactly; the caller's `now` only translates `until` and `cooldownUntil` into its own clock. `caller`:
   * the `now` each call passes (for tests with an injected clock, and hosts whose clocks are in sync).
   * @default 'redis'
   */
  time?: 'redis' | 'caller';
  /**
   * The least time a lane's key lives after a write. A key always lives at least until its buckets have
   * drained and its cooldown is over (never less than its longest window); this only keeps it longer.
   * @default 0
   */
  idleMs?: number;
  /**
   * How long one command may take before Redis counts as unreachable and the store switches to `onOutage`.
   * @default 200
   */
  commandTimeoutMs?: number;
  /**
   * What the store does while Redis is unreachable. `local-share`: decide in this process against
   * limit ÷ (live instances last counted in Redis). `fail-closed`: admit nothing; reservations answer
   * not-ok with `blockedBy: 'redis'` and a wait of `probeMs`. Either way the store never throws, and it
   * goes back to Redis on its own when Redis answers again.
   * @default 'local-share'
   */
  onOutage?: 'local-share' | 'fail-closed';
  /** Called on every change of `status`. */
  onStatus?: (change: RedisStatusChange) => void;
  /**
   * How often the store writes its heartbeat (and counts live instances) while Redis answers.
   * @default 5000
   */
  heartbeatMs?: number;
  /**
   * An instance whose heartbeat is older than this no longer counts as live.
   * @default 15000
   */
  instanceTtlMs?: number;
  /**
   * How often the store tries Redis again during an outage (also the wait a `fail-closed` refusal asks for).
   * @default 1000
   */
  probeMs?: number;
  /**
   * The least number of instances a local share divides by: used when Redis has not answered a heartbeat
   * since the store started, and as a floor otherwise. Set it to your replica count to keep an outage at
   * start-up within the limit.
   * @default 1
   */
  expectedProcesses?: number;
  /**
   * This instance's member in the set of live instances.
   * @default `<pid>-<8 random hex>`
   */
  instanceId?: string;
}

export const REDIS_STORE_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  prefix: 'sluice:',
  time: 'redis',
  idleMs: 0,
  commandTimeoutMs: 200,
  onOutage: 'local-share',
  heartbeatMs: 5000,
  instanceTtlMs: 15_000,
  probeMs: 1000,
  expectedProcesses: 1,
} as const satisfies Omit<Required<RedisStoreOptions>, 'client' | 'onStatus' | 'instanceId'>;

export type ResolvedRedisStoreOptions = Required<Omit<RedisStoreOptions, 'client' | 'onStatus' | 'url'>> &
  Pick<RedisStoreOptions, 'client' | 'onStatus' | 'url'>;

function invalid(message: string): never {
  throw sluiceError('invalid_option', message);
}

function positive(name: string, value: number, min = 0, exclusive = true): void {
  if (!Number.isFinite(value) || (exclusive ? value <= min : value < min)) {
    invalid(
      `Expected createRedisStore option \`${name}\` to be a number ${exclusive ? 'above' : 'from'} ${min}${exclusive ? '' : ' up'}, got ${String(value)}.`,
    );
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Fills in defaults and checks every field; throws `invalid_option` naming the field and the fix. */
export function resolveOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (options.client !== undefined && options.url !== undefined) {
    invalid(
      'createRedisStore got both `url` and `client`; pass one: the store connects to `url` or uses `client`.',
    );
  }
  const resolved: ResolvedRedisStoreOptions = {
    ...REDIS_STORE_DEFAULTS,
    instanceId: `${process.pid}-${randomBytes(4).toString('hex')}`,
    ...definedOnly(options),
  };
  if (typeof resolved.prefix !== 'string' || /[{}]/.test(resolved.prefix)) {
    invalid(
      `Expected createRedisStore option \`prefix\` to be a string without "{" or "}" (lanes are hash-tagged), got ${JSON.stringify(resolved.prefix)}.`,
    );
  }
  if (resolved.time !== 'redis' && resolved.time !== 'caller') {
    invalid(
      `Expected createRedisStore option \`time\` to be 'redis' or 'caller', got ${JSON.stringify(resolved.time)}.`,
    );
  }
  if (resolved.onOutage !== 'local-share' && resolved.onOutage !== 'fail-closed') {
    invalid(
      `Expected createRedisStore option \`onOutage\` to be 'local-share' or 'fail-closed', got ${JSON.stringify(resolved.onOutage)}.`,
    );
  }
  positive('idleMs', resolved.idleMs, 0, false);
  positive('commandTimeoutMs', resolved.commandTimeoutMs);
  positive('heartbeatMs', resolved.heartbeatMs);
  positive('instanceTtlMs', resolved.instanceTtlMs);
  positive('probeMs', resolved.probeMs);
  positive('expectedProcesses', resolved.expectedProcesses, 1, false);
  return resolved;
}
