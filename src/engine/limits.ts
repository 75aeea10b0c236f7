/**
 * Continuous-refill bucket math, the way the providers limit.
 *
 * A bucket is described by its limit L per window W and its capacity C (the burst: L × burst / W;
 * providers default to the full window, C = L). Its state is one number pair: the `level` (units in use)
 * at time `at`. The level drains continuously at L / W units per ms. A cost c fits at time t when
 * level(t) + c ≤ C; otherwise it fits after (level(t) + c − C) × W / L ms — the very formula behind
 * OpenAI's "Please try again in 1.146s". A cost above C never fits.
 *
 * Pure functions over plain objects; every store implements this same math.
 */
import type { Dimension } from './types.js';

/** One limited quantity of a lane, e.g. tokens per minute. */
export interface BucketSpec {
  /** Stable id within a lane, e.g. `tokens/60000`. */
  id: string;
  dimension: Dimension;
  /** Units per window. */
  limit: number;
  windowMs: number;
  /** Burst capacity in units (≤ limit for time buckets). */
  capacity: number;
  /**
   * Headroom in units kept free while the bucket is in use (0 when absent). Requests reach the server
   * a variable time after admission; one delayed more than the next makes the server's bucket fuller
   * than the local mirror by up to rate × (delay spread). Keeping `margin` free absorbs that without
   * lowering the steady rate: only the first burst is `margin` smaller. A request never waits for more
   * than an empty bucket, so a margin can never make a request too large.
   */
  margin?: number;
}

/** A bucket's state: `level` units in use at time `at` (ms). */
export interface BucketState {
  level: number;
  at: number;
}

/** Cost of one request in each dimension. Missing dimensions cost nothing. */
export type CostVector = Partial<Record<Dimension, number>>;

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** A bucket's id: its dimension and window (`tokens/60000`). */
export function bucketId(dimension: Dimension, windowMs: number): string {
  return `${dimension}/${windowMs}`;
}

/** Builds a spec; `burstMs` defaults to the full window. */
export function bucket(
  dimension: Dimension,
  limit: number,
  windowMs: number,
  burstMs = windowMs,
): BucketSpec {
  return {
    id: bucketId(dimension, windowMs),
    dimension,
    limit,
    windowMs,
    capacity: Math.max(1, (limit * Math.min(burstMs, windowMs)) / windowMs),
  };
}

/** Limits as configured: per minute and per day, and how much of a per-minute limit may go at once. */
export interface ConfiguredLimits {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  tpd?: number;
  /** Input tokens per minute (Anthropic's ITPM). */
  itpm?: number;
  /** Output tokens per minute (Anthropic's OTPM). */
  otpm?: number;
  /** @default the full window */
  burstMs?: number;
}

/**
 * The buckets configured limits describe, in the order rpm, tpm, rpd, tpd, itpm, otpm: the per-minute ones with
 * the burst, the per-day ones with the whole day.
 */
export function configuredBuckets(c: ConfiguredLimits | undefined): BucketSpec[] {
  const out: BucketSpec[] = [];
  if (!c) return out;
  const burst = c.burstMs ?? MINUTE_MS;
  if (c.rpm) out.push(bucket('requests', c.rpm, MINUTE_MS, burst));
  if (c.tpm) out.push(bucket('tokens', c.tpm, MINUTE_MS, burst));
  if (c.rpd) out.push(bucket('requests', c.rpd, DAY_MS));
  if (c.tpd) out.push(bucket('tokens', c.tpd, DAY_MS));
  if (c.itpm) out.push(bucket('inputTokens', c.itpm, MINUTE_MS, burst));
  if (c.otpm) out.push(bucket('outputTokens', c.otpm, MINUTE_MS, burst));
  return out;
}

/** The level of a bucket at time `now` after continuous draining. */
export function levelAt(spec: BucketSpec, state: BucketState | undefined, now: number): number {
  if (!state) return 0;
  const drained = ((now - state.at) * spec.limit) / spec.windowMs;
  return Math.max(0, state.level - Math.max(0, drained));
}

/**
 * Milliseconds to wait until `cost` fits: 0 when it fits now, `Infinity` when it never can (cost > C).
 */
export function waitFor(spec: BucketSpec, state: BucketState | undefined, cost: number, now: number): number {
  if (cost <= 0) return 0;
  if (cost > spec.capacity) return Infinity;
  const level = levelAt(spec, state, now);
  if (level <= 0) return 0;
  const over = Math.min(level, level + cost + (spec.margin ?? 0) - spec.capacity);
  return over <= 1e-9 ? 0 : (over * spec.windowMs) / spec.limit;
}

/** The state after charging `cost` (negative refunds; the level never drops below zero). */
export function charge(
  spec: BucketSpec,
  state: BucketState | undefined,
  cost: number,
  now: number,
): BucketState {
  return { level: Math.max(0, levelAt(spec, state, now) + cost), at: now };
}

/** Every dimension a cost vector can name. */
export const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens', 'inputTokens', 'outputTokens'];

/** The refund of a cost: every dimension negated. */
export function negate(cost: CostVector): CostVector {
  const out: CostVector = {};
  for (const d of DIMENSIONS) if (cost[d]) out[d] = -cost[d]!;
  return out;
}
