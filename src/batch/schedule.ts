/**
 * What the limiter's schedule says about a lane: how fast it lets a backlogged lane go, and how long it
 * needs to admit what is left. Pure functions over a sample of the engine's lane state, so rates and
 * ETAs follow the limits (1 RPM shows 1 RPM and minutes to go), not the noise of a few recent answers.
 */

/** One bucket of a lane as the engine reported it at `LaneSample.at`. */
export interface SampledBucket {
  dimension: string;
  /** Units per `windowMs`. */
  limit: number;
  windowMs: number;
  /** The most the bucket admits at once (the burst). */
  capacity: number;
  /** Units in use at the sample's time. */
  level: number;
}

/** A lane's limiter state, sampled from the engine. */
export interface LaneSample {
  /** When it was sampled (the engine's clock). */
  at: number;
  /** Every bucket in force (configured or learned); empty while the lane's limits are unknown. */
  buckets: readonly SampledBucket[];
  /** The lane is paused (after a 429) until then. */
  cooldownUntil: number;
  /** Requests of the lane handed to the engine and not admitted yet (queued, or waiting to retry). */
  waiting: number;
}

const MINUTE_MS = 60_000;

/** What one admission costs in a bucket's dimension. */
function unitCost(dimension: string, tokensPerRequest: number): number {
  return dimension === 'requests' ? 1 : tokensPerRequest;
}

/** The lane's per-minute limit of `requests` or `tokens` (its bucket with a one-minute window), if known. */
export function perMinuteLimit(sample: LaneSample, dimension: 'requests' | 'tokens'): number | undefined {
  for (const b of sample.buckets) {
    if (b.windowMs === MINUTE_MS && b.dimension === dimension) return b.limit;
  }
  return undefined;
}

/**
 * Requests per minute the limiter admits on a lane that has work waiting: the binding per-minute bucket
 * (0 while the lane is paused). `undefined` when no per-minute limit is known.
 */
export function scheduledRpm(sample: LaneSample, tokensPerRequest: number, now: number): number | undefined {
  let rpm: number | undefined;
  for (const b of sample.buckets) {
    if (b.windowMs !== MINUTE_MS) continue;
    const cost = unitCost(b.dimension, tokensPerRequest);
    if (!(cost > 0)) continue;
    const perMinute = b.limit / cost;
    rpm = rpm === undefined ? perMinute : Math.min(rpm, perMinute);
  }
  if (rpm === undefined) return undefined;
  return sample.cooldownUntil > now ? 0 : rpm;
}

/**
 * Milliseconds from `now` until the limiter has admitted `requests` more requests of the lane, each
 * costing `tokensPerRequest` tokens: per bucket, what does not fit in the room left now refills at the
 * bucket's rate; the slowest bucket decides, after any pause. `undefined` when the lane's limits are
 * unknown (nothing to schedule by).
 */
export function scheduleMs(
  sample: LaneSample,
  requests: number,
  tokensPerRequest: number,
  now: number,
): number | undefined {
  if (sample.buckets.length === 0) return undefined;
  const elapsed = Math.max(0, now - sample.at);
  let wait = 0;
  for (const b of sample.buckets) {
    if (!(b.limit > 0)) continue;
    const level = Math.max(0, b.level - (b.limit * elapsed) / b.windowMs);
    const room = Math.max(0, b.capacity - level);
    const need = requests * unitCost(b.dimension, tokensPerRequest);
    if (need > room) wait = Math.max(wait, ((need - room) / b.limit) * b.windowMs);
  }
  return wait + Math.max(0, sample.cooldownUntil - now);
}
