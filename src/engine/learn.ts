/**
 * Learning a lane's limits from the server: the rate-limit headers of every answer give each bucket's
 * limit, level and burst; the figures quoted in a 429 reveal a burst shorter than the stated limit
 * (tightening); 429s that persist without figures, and `slow_down` answers, lower the lane's pace, which
 * successes restore. The local mirror is raised to the server's levels, never lowered.
 *
 * What a lane learned (limits and tightened bursts) is shared through the store, versioned: a change is
 * written only over the version this process last saw (compare and set); a refused write means another
 * process learned meanwhile, and its learning is adopted. Every reservation's answer carries the store's
 * version, so a process reads a newer learning (one extra round trip) as soon as it meets one — a new
 * process starts from what the others know instead of probing the lane one request at a time.
 */
import type { EngineContext } from './context.js';
import { MemoryStore } from './memory-store.js';
import { OPEN, type Lane } from './lane.js';
import { bucket, bucketId, DAY_MS, DIMENSIONS, MINUTE_MS } from './limits.js';
import type { Learned, LearnedLimits } from './store.js';
import type { BucketView, Classification, ServerView } from './types.js';

/** What one bucket's headers reveal: its limit and window, its level now, and its burst capacity. */
export interface BucketReading {
  limit: number;
  /** `MINUTE_MS`, or `DAY_MS` when only a per-day bucket explains the reset. */
  windowMs: number;
  /** Units in use, from the reset: `reset × limit ÷ window`. */
  level: number;
  /** `remaining + level` (the full limit when remaining is not said), whole, between 1 and the limit. */
  capacity: number;
}

/**
 * Reads one bucket of a {@link ServerView}: `undefined` without a positive limit. From `limit L`,
 * `remaining R` and `reset T` (time until full) the level is `T × L ÷ window` and the capacity
 * `R + level`; a capacity that only a per-day window explains marks a per-day bucket (the headers
 * describe the binding bucket, which can be the daily one). Without a reset (Mistral sends none) the
 * bucket is taken as per minute, full at the limit, its level `L − R`; with a rounded remaining
 * (Anthropic's tokens) the capacity is the limit and the level the smaller of the two bounds.
 */
export function readBucket(b: BucketView): BucketReading | undefined {
  if (b.limit === undefined || !(b.limit > 0)) return undefined;
  const limit = b.limit;
  if (b.resetMs === undefined && b.remaining !== undefined) {
    // No reset (Mistral): what remains is out of the whole limit, so the level is what is missing.
    return { limit, windowMs: MINUTE_MS, level: Math.max(0, limit - b.remaining), capacity: limit };
  }
  if (b.remainingStep !== undefined && b.remaining !== undefined && b.resetMs !== undefined) {
    // Rounded down (Anthropic): `limit − remaining` and the reset both overstate the level, so the
    // smaller is the closer bound; such headers cannot show a short burst, so the capacity is the limit.
    const fromReset = (b.resetMs * limit) / MINUTE_MS;
    return {
      limit,
      windowMs: MINUTE_MS,
      level: Math.min(fromReset, Math.max(0, limit - b.remaining)),
      capacity: limit,
    };
  }
  const reset = b.resetMs ?? 0;
  let windowMs = MINUTE_MS;
  let level = (reset * limit) / windowMs;
  let capacity = b.remaining === undefined ? limit : b.remaining + level;
  if (capacity > limit * 1.02 + 1) {
    // Only a per-day bucket explains this reset: the headers describe the binding (daily) bucket.
    windowMs = DAY_MS;
    level = (reset * limit) / windowMs;
    capacity = b.remaining === undefined ? limit : b.remaining + level;
  }
  capacity = Math.max(1, Math.min(limit, Math.floor(capacity)));
  return { limit, windowMs, level, capacity };
}

export class Learner {
  readonly #ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /** Learns limits from the server's headers; returns the bucket levels the server reported. */
  fromHeaders(lane: Lane, view: ServerView, now: number): Record<string, number> {
    const levels: Record<string, number> = {};
    if (!lane.learn) return levels;
    let changed = false;
    for (const dimension of DIMENSIONS) {
      const b = view.buckets[dimension];
      if (!b) continue;
      const reading = readBucket(b);
      if (!reading) continue;
      const { limit, windowMs, level, capacity } = reading;
      const id = bucketId(dimension, windowMs);
      const prior = lane.learned.get(id);
      if (
        !prior ||
        prior.limit !== limit ||
        Math.abs(prior.capacity - capacity) > Math.max(2, capacity * 0.01)
      ) {
        lane.learned.set(id, { ...bucket(dimension, limit, windowMs), capacity });
        changed = true;
      }
      levels[id] = level;
    }
    if (changed) {
      lane.rebuild();
      this.#announce(lane, now);
      this.#publish(lane, now);
    }
    return levels;
  }

  #announce(lane: Lane, now: number): void {
    const limits: Record<string, number> = {};
    for (const s of lane.buckets) limits[s.id] = s.limit;
    this.#ctx.emit({ type: 'limits_learned', at: now, lane: lane.id, id: 0, limits });
  }

  /** Writes the lane's learning over the version it holds; adopts the store's when another was newer. */
  #publish(lane: Lane, now: number): void {
    const store = this.#ctx.store;
    if (!store.learn) return;
    const record: LearnedLimits = {
      buckets: [...lane.learned.values()],
      tightened: Object.fromEntries(lane.tightened),
    };
    void Promise.resolve(store.learn(lane.id, lane.learnedVersion, record, now)).then(
      (answer) => this.#adopt(lane, answer),
      () => {},
    );
  }

  /**
   * Reads the store's learning when a reservation showed a version newer than the lane's. At most one
   * read per lane at a time.
   */
  sync(lane: Lane, version: number): Promise<void> {
    const store = this.#ctx.store;
    if (!store.learn || version <= lane.learnedVersion) return Promise.resolve();
    if (lane.syncing) return lane.syncing;
    const read = Promise.resolve(store.learn(lane.id, lane.learnedVersion, undefined, this.#ctx.clock.now()))
      .then((answer) => this.#adopt(lane, answer))
      .catch(() => {})
      .finally(() => (lane.syncing = undefined));
    lane.syncing = read;
    return read;
  }

  /** Takes the store's answer: a newer learning replaces the lane's (limits and tightened bursts). */
  #adopt(lane: Lane, answer: Learned): void {
    if (answer.version <= lane.learnedVersion) return;
    lane.learnedVersion = answer.version;
    if (answer.applied || !answer.record) return;
    lane.learned.clear();
    for (const spec of answer.record.buckets) lane.learned.set(spec.id, spec);
    lane.tightened.clear();
    for (const [id, capacity] of Object.entries(answer.record.tightened)) lane.tightened.set(id, capacity);
    lane.rebuild();
    // What others learned ends the start's one-at-a-time probing: the limits are known.
    if (lane.mode.kind === 'probing' && lane.mode.reason === 'start' && lane.learned.size > 0) {
      lane.mode = OPEN;
      lane.wake?.();
    }
    this.#announce(lane, this.#ctx.clock.now());
  }

  /**
   * Raises the local levels to the server's (from its headers); never lowers them. The server read its
   * levels when the request reached it, not when its answer is read here: read as of now, an answer
   * that waited for a busy process — after a burst, hundreds of them — would set the level back to
   * where it was that long ago and hold the lane back by as much. So a reading is drained for the time
   * since `readAt` (when the attempt was sent), less the lane's safety margin: the request may have
   * reached the server later than it was sent (a busy event loop, a cold connection), and a reading
   * aged by the whole time would then make the mirror more optimistic than the server. Only a store of
   * this process's own (`MemoryStore`) ages readings.
   */
  raiseToServer(lane: Lane, levels: Record<string, number>, now: number, readAt = now): void {
    // Shared with other processes, the server's level also counts their requests, whose sending this
    // process cannot see: one delayed by a busy machine reaches the server later than any margin here
    // allows for. Such readings are taken as of now (the conservative side).
    const shared = !(this.#ctx.store instanceof MemoryStore);
    const age = shared ? 0 : Math.max(0, now - readAt - lane.safetyMarginMs);
    let aged: Record<string, number> | undefined;
    for (const spec of lane.buckets) {
      const level = levels[spec.id];
      if (level === undefined) continue;
      (aged ??= {})[spec.id] = Math.max(0, level - (age * spec.limit) / spec.windowMs);
    }
    if (aged) void this.#ctx.store.raise(lane.id, lane.buckets, aged, now, lane.learnedVersion);
  }

  /**
   * Learns from a 429: the quoted "Limit, Used, Requested" and the wait reveal the server's real burst
   * capacity (`used + requested − wait × rate`), which the lane adopts; without figures, a third 429 in a
   * row lowers the pace; `slow_down` always does.
   */
  async fromRateLimit(lane: Lane, cls: Classification, now: number): Promise<void> {
    lane.consecutive429++;
    const wait = cls.waitMs;
    const q = cls.quoted;
    if (q && q.used !== undefined) {
      const windowMs = q.period === 'day' ? DAY_MS : MINUTE_MS;
      const spec = bucket(q.dimension, q.limit, windowMs);
      if (wait !== undefined) {
        // The server refused at level `used`: its capacity is used + requested − wait × rate.
        const capacity = q.used + q.requested - (wait * q.limit) / windowMs;
        if (capacity > 0 && capacity < q.limit * 0.999) {
          lane.tightened.set(
            spec.id,
            Math.min(lane.tightened.get(spec.id) ?? Infinity, Math.floor(capacity)),
          );
        }
      }
      if (lane.learn && !lane.learned.has(spec.id)) lane.learned.set(spec.id, spec);
      lane.rebuild();
      this.#publish(lane, now);
      await this.#ctx.store.raise(lane.id, lane.buckets, { [spec.id]: q.used }, now, lane.learnedVersion);
    } else if (lane.consecutive429 >= 3) {
      // 429s persist and the server gives no figures: assume our mirror is too generous.
      lane.pace = Math.max(0.2, lane.pace * 0.8);
      lane.rebuild();
    }
    if (cls.outcome === 'slow_down') {
      lane.pace = Math.max(0.2, lane.pace * 0.7);
      lane.rebuild();
    }
  }

  /** A success: 429s no longer persist, and the pace recovers by 2 %. */
  succeeded(lane: Lane): void {
    lane.consecutive429 = 0;
    if (lane.pace < 1) {
      lane.pace = Math.min(1, lane.pace + 0.02);
      lane.rebuild();
    }
  }

  /** An operator reset: forgets the pace and the tightened capacities (learned limits stay). */
  forget(lane: Lane): void {
    lane.consecutive429 = 0;
    lane.pace = 1;
    lane.tightened.clear();
    lane.rebuild();
  }
}
