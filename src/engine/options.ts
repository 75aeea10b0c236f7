/**
 * The engine's options: what each one means, its default (all in {@link ENGINE_DEFAULTS}), and the one
 * rule set that checks them when the engine is built ({@link resolveOptions}).
 */
import { systemClock, type Clock } from './clock.js';
import type { EventListener } from './events.js';
import { MINUTE_MS } from './limits.js';
import { MemoryStore } from './memory-store.js';
import type { LaneRef } from './request.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import type { Store } from './store.js';
import {
  checkBoolean,
  checkFunction,
  checkMethods,
  checkMilliseconds,
  checkObject,
  checkOneOf,
  checkPositive,
  checkWhole,
} from './validate.js';

/** Limits for a lane. Any omitted limit is learned from the server's headers (unless learning is off). */
export interface LimitsConfig {
  /** Requests per minute (a finite number above 0). @default learned */
  rpm?: number;
  /** Tokens per minute (a finite number above 0). @default learned */
  tpm?: number;
  /** Requests per day (a finite number above 0). @default learned */
  rpd?: number;
  /** Tokens per day (a finite number above 0). @default learned */
  tpd?: number;
  /** Input (prompt) tokens per minute, Anthropic's ITPM (a finite number above 0). @default learned */
  itpm?: number;
  /** Output tokens per minute, Anthropic's OTPM, charged the max at admission (a finite number above 0). @default learned */
  otpm?: number;
  /**
   * Requests in flight at once on the lane (a whole number from 1 up): in this process, and across
   * processes when the store shares concurrency slots (the Redis store does). @default no limit
   */
  maxConcurrency?: number;
  /**
   * How much of a per-minute limit may be spent at once, as milliseconds of the window
   * (`3000` lets 3 s worth of the limit go in a burst; above 0, `Infinity` meaning the full window).
   * @default 60000 (the full window, as providers do)
   */
  burstMs?: number;
}

/** Sub-limits of one tenant on one lane, or `undefined` for none. */
export type TenantLimitsFunction = (lane: LaneRef, tenant: string) => LimitsConfig | undefined;

export type Settlement = 'auto' | 'usage' | 'none';
const SETTLEMENTS: readonly Settlement[] = ['auto', 'usage', 'none'];

export interface EngineOptions {
  /** Limits for every lane, or per lane. @default learn every lane's limits from its headers */
  limits?: LimitsConfig | ((lane: LaneRef) => LimitsConfig | undefined);
  /**
   * Sub-limits per tenant (the request's `tenant`) within a lane: a tenant may use at most this much of
   * the lane (`rpm`, `tpm`, `rpd`, `tpd`, `burstMs` as for lanes; `maxConcurrency` counts the tenant's
   * requests in flight on the lane). Omitted limits mean no sub-limit in that dimension; sub-limits are
   * never learned. A function is called when a lane first meets a tenant, and again by
   * `engine.reconfigure()`; a fixed object applies to every tenant, `default` (requests naming none)
   * included. A tenant held back by its own sub-limit never holds up other tenants' requests.
   * @default no sub-limits
   */
  tenantLimits?: LimitsConfig | TenantLimitsFunction;
  /** Learn limits from `x-ratelimit-*` headers and 429 bodies. @default true */
  learnLimits?: boolean;
  /** Where limiter state lives. @default a new MemoryStore per engine (this process only) */
  store?: Store;
  /** @default the system clock */
  clock?: Clock;
  /** @default Math.random */
  random?: () => number;
  /** Backoff for transient failures; omitted fields keep their defaults. @default DEFAULT_RETRY_POLICY */
  retry?: Partial<RetryPolicy>;
  /** Waiting requests per lane before new ones fail with `queue_full` (whole, ≥ 1, or Infinity). @default 10000 */
  maxQueue?: number;
  /** 429 answers one request may meet before it fails with `rate_limited` (whole, ≥ 0, or Infinity). @default 20 */
  maxRateLimitRetries?: number;
  /** Default admission deadline for requests that name none (ms ≥ 0). @default Infinity (wait as long as the server says) */
  maxWaitMs?: number;
  /** After a quota error, how often one request is let through to see if the quota is back (ms ≥ 0). @default 60000 */
  quotaProbeIntervalMs?: number;
  /**
   * Headroom kept free in every bucket, as milliseconds of its rate, so that requests reaching the server
   * in a different order or later than admitted do not meet a fuller bucket there. Costs only the first
   * burst that much; the steady rate is unchanged.
   * @default 100
   */
  safetyMarginMs?: number;
  /** Completion tokens assumed for requests without a max, until the lane has learned its typical one. @default 64 */
  typicalCompletionTokens?: number;
  /**
   * How the token ledger is settled after the answer: `auto` charges actual usage for requests that named
   * no max (OpenAI charges the max at admission and never refunds it), `usage` always settles to actual
   * usage (servers that count generated tokens), `none` never settles.
   * @default 'auto'
   */
  settlement?: Settlement;
  /** Called with every event (see `SluiceEvent`). @default none */
  onEvent?: EventListener;
}

/** Every default of {@link EngineOptions} (the store, a new `MemoryStore` per engine, is made in {@link resolveOptions}). */
export const ENGINE_DEFAULTS = Object.freeze({
  learnLimits: true,
  clock: systemClock as Clock,
  random: Math.random as () => number,
  retry: DEFAULT_RETRY_POLICY,
  maxQueue: 10_000,
  maxRateLimitRetries: 20,
  maxWaitMs: Infinity,
  quotaProbeIntervalMs: 60_000,
  safetyMarginMs: 100,
  typicalCompletionTokens: 64,
  settlement: 'auto' as Settlement,
  limits: Object.freeze({ burstMs: MINUTE_MS }),
});

/** The options with every default filled in, as the engine's rooms read them. */
export interface ResolvedOptions {
  limits: EngineOptions['limits'];
  tenantLimits: EngineOptions['tenantLimits'];
  learnLimits: boolean;
  store: Store;
  clock: Clock;
  random: () => number;
  retry: RetryPolicy;
  maxQueue: number;
  maxRateLimitRetries: number;
  maxWaitMs: number;
  quotaProbeIntervalMs: number;
  safetyMarginMs: number;
  typicalCompletionTokens: number;
  settlement: Settlement;
}

const STORE_METHODS = ['reserve', 'adjust', 'raise', 'cooldown', 'snapshot', 'clear'] as const;

/**
 * Checks every option (throwing `invalid_option` naming the first bad one) and fills in the defaults.
 * Fields the engine does not know are ignored: shells pass their own options object through.
 */
export function resolveOptions(options: EngineOptions): ResolvedOptions {
  const o = options;
  if (o.limits !== undefined && typeof o.limits !== 'function') validateLimits(o.limits, 'limits');
  if (o.tenantLimits !== undefined && typeof o.tenantLimits !== 'function')
    validateLimits(o.tenantLimits, 'tenantLimits');
  if (o.learnLimits !== undefined) checkBoolean('learnLimits', o.learnLimits);
  if (o.store !== undefined) checkMethods('store', o.store, STORE_METHODS);
  if (o.clock !== undefined) checkMethods('clock', o.clock, ['now', 'sleep']);
  if (o.random !== undefined) checkFunction('random', o.random);
  if (o.retry !== undefined) validateRetry(o.retry);
  if (o.maxQueue !== undefined) checkWhole('maxQueue', o.maxQueue, 1, true);
  if (o.maxRateLimitRetries !== undefined) checkWhole('maxRateLimitRetries', o.maxRateLimitRetries, 0, true);
  if (o.maxWaitMs !== undefined) checkMilliseconds('maxWaitMs', o.maxWaitMs, true);
  if (o.quotaProbeIntervalMs !== undefined) checkMilliseconds('quotaProbeIntervalMs', o.quotaProbeIntervalMs);
  if (o.safetyMarginMs !== undefined) checkMilliseconds('safetyMarginMs', o.safetyMarginMs);
  if (o.typicalCompletionTokens !== undefined)
    checkPositive('typicalCompletionTokens', o.typicalCompletionTokens);
  if (o.settlement !== undefined) checkOneOf('settlement', o.settlement, SETTLEMENTS);
  if (o.onEvent !== undefined) checkFunction('onEvent', o.onEvent);

  const d = ENGINE_DEFAULTS;
  return {
    limits: o.limits,
    tenantLimits: o.tenantLimits,
    learnLimits: o.learnLimits ?? d.learnLimits,
    store: o.store ?? new MemoryStore(),
    clock: o.clock ?? d.clock,
    random: o.random ?? d.random,
    retry: { ...d.retry, ...definedOnly(o.retry) },
    maxQueue: o.maxQueue ?? d.maxQueue,
    maxRateLimitRetries: o.maxRateLimitRetries ?? d.maxRateLimitRetries,
    maxWaitMs: o.maxWaitMs ?? d.maxWaitMs,
    quotaProbeIntervalMs: o.quotaProbeIntervalMs ?? d.quotaProbeIntervalMs,
    safetyMarginMs: o.safetyMarginMs ?? d.safetyMarginMs,
    typicalCompletionTokens: o.typicalCompletionTokens ?? d.typicalCompletionTokens,
    settlement: o.settlement ?? d.settlement,
  };
}

/**
 * Checks a lane's (or a tenant's) limits: at engine build time for a fixed object, when the lane is
 * first met for a per-lane function (`where` then names the lane), and on `engine.reconfigure()`.
 */
export function validateLimits(limits: LimitsConfig, where: string): void {
  checkObject(where, limits);
  for (const key of ['rpm', 'tpm', 'rpd', 'tpd', 'itpm', 'otpm'] as const) {
    if (limits[key] !== undefined) checkPositive(`${where}.${key}`, limits[key]);
  }
  if (limits.burstMs !== undefined) checkPositive(`${where}.burstMs`, limits.burstMs, true);
  if (limits.maxConcurrency !== undefined) checkWhole(`${where}.maxConcurrency`, limits.maxConcurrency, 1);
}

function validateRetry(retry: Partial<RetryPolicy>): void {
  checkObject('retry', retry);
  if (retry.maxAttempts !== undefined) checkWhole('retry.maxAttempts', retry.maxAttempts, 1);
  if (retry.baseDelayMs !== undefined) checkMilliseconds('retry.baseDelayMs', retry.baseDelayMs);
  if (retry.maxDelayMs !== undefined) checkMilliseconds('retry.maxDelayMs', retry.maxDelayMs, true);
  if (retry.maxElapsedMs !== undefined) checkMilliseconds('retry.maxElapsedMs', retry.maxElapsedMs, true);
}

/** The fields of `value` that are not `undefined` (so `{ maxAttempts: undefined }` keeps the default). */
function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (value)
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k as keyof T] = v as T[keyof T];
  return out;
}
