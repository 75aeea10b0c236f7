/**
 * What the Redis store decides with while Redis is unreachable, and what it hands back when Redis
 * answers again.
 *
 * While Redis answers, the store tells this object each lane's last levels (`remember`). When Redis stops
 * answering, a lane's first local decision starts from this instance's share of those levels (the seed),
 * so that what was spent just before the outage still counts. When Redis answers again, `handBack` takes
 * each lane's local state and gives the store what to add in Redis: what was charged here beyond the seed
 * and, when Redis lost its data meanwhile (a restart without persistence), the seed as well, so that all
 * instances together put back what Redis forgot.
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
import { LocalShare } from './local-share.js';
import { levelsOf } from './replies.js';

/** A reply carrying a lane's levels (from `offset` on, in units ÷ `scale`) at caller time `at`. */
interface Known {
  buckets: readonly BucketSpec[];
  reply: readonly unknown[];
  offset: number;
  scale: number;
  at: number;
}

/** What to do in Redis for one lane when it answers again. */
export interface HandBack {
  lane: string;
  /** Clear the lane in Redis first (it was cleared during the outage). */
  clear: boolean;
  /** The lane's buckets as last used. */
  buckets: readonly BucketSpec[];
  /** Units to add per bucket. */
  add: [BucketSpec, number][];
  /** Caller-clock epoch ms of a local cooldown to carry over; 0 for none. */
  cooldownUntil: number;
}

/** Lanes whose last levels are kept; past this the memory is dropped and refilled. */
const KNOWN_LANES = 10_000;

export class OutageFallback {
  readonly #local = new LocalShare();
  readonly #known = new Map<string, Known>();
  /** Lanes cleared during the outage. */
  readonly #cleared = new Set<string>();
  /** Set when Redis lost its data while it was unreachable: seeds go back too. */
  #lost = false;

  /** The number each limit is divided by. */
  get divisor(): number {
    return this.#local.divisor;
  }

  set divisor(n: number) {
    this.#local.divisor = n;
  }

  /** Says that Redis lost its data since it was last reached. */
  redisLostData(): void {
    this.#lost = true;
  }

  /** Keeps a lane's last levels from a Redis reply (nothing is parsed until an outage needs it). */
  remember(
    lane: string,
    buckets: readonly BucketSpec[],
    reply: readonly unknown[],
    offset: number,
    scale: number,
    at: number,
  ): void {
    if (this.#known.size >= KNOWN_LANES && !this.#known.has(lane)) this.#known.clear();
    this.#known.set(lane, { buckets, reply, offset, scale, at });
  }

  /** The local share, with `lane` seeded from what Redis last said about it. */
  #for(lane: string): LocalShare {
    const known = this.#known.get(lane);
    if (known) {
      if (!this.#local.has(lane)) {
        this.#local.seed(
          lane,
          known.buckets,
          levelsOf(known.reply, known.buckets, known.offset, known.scale),
          known.at,
        );
      }
      this.#known.delete(lane);
    }
    return this.#local;
  }

  reserve(
    lane: string,
    buckets: readonly BucketSpec[],
    cost: CostVector,
    now: number,
    claim?: Claim,
  ): Reservation {
    return this.#for(lane).reserve(lane, buckets, cost, now, claim);
  }

  release(lane: string, slotId: string, now: number): void {
    this.#local.release(lane, slotId, now);
  }

  trip(lane: string, trip: TripRecord, probeIntervalMs: number, now: number): void {
    this.#local.trip(lane, trip, probeIntervalMs, now);
  }

  untrip(lane: string, now: number): void {
    this.#local.untrip(lane, now);
  }

  learn(lane: string, version: number, record: LearnedLimits | undefined, now: number): Learned {
    return this.#local.learn(lane, version, record, now);
  }

  adjust(lane: string, buckets: readonly BucketSpec[], delta: CostVector, now: number): void {
    this.#for(lane).adjust(lane, buckets, delta, now);
  }

  refund(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number): void {
    this.#for(lane).refund(lane, buckets, cost, now);
  }

  raise(lane: string, buckets: readonly BucketSpec[], levels: Record<string, number>, now: number): void {
    this.#for(lane).raise(lane, buckets, levels, now);
  }

  cooldown(lane: string, until: number, now: number): void {
    this.#for(lane).cooldown(lane, until, now);
  }

  snapshot(lane: string, buckets: readonly BucketSpec[], now: number): LaneSnapshot {
    return this.#for(lane).snapshot(lane, buckets, now);
  }

  /** Forgets the lane here; `outage` says whether Redis must clear it too when it answers again. */
  clear(lane: string, outage: boolean): void {
    this.#local.clear(lane);
    this.#known.delete(lane);
    if (outage) this.#cleared.add(lane);
    else this.#cleared.delete(lane);
  }

  /**
   * Takes every lane's local state (it is forgotten here) and says what to do with it in Redis. If doing
   * that fails, `restore` puts it back.
   */
  takeAll(now: number): HandBack[] {
    const out: HandBack[] = [];
    const lanes = new Set([...this.#local.lanes(), ...this.#cleared]);
    for (const lane of lanes) {
      const local = this.#local.peek(lane, now);
      const add: [BucketSpec, number][] = [];
      if (local) {
        for (const spec of local.buckets) {
          const units = (local.levels[spec.id] ?? 0) + (this.#lost ? (local.seeds[spec.id] ?? 0) : 0);
          if (units > 0) add.push([spec, units]);
        }
      }
      out.push({
        lane,
        clear: this.#cleared.has(lane),
        buckets: local?.buckets ?? [],
        add,
        cooldownUntil: local?.cooldownUntil ?? 0,
      });
      this.#local.clear(lane);
    }
    this.#cleared.clear();
    this.#lost = false;
    return out;
  }

  /** Puts back what `takeAll` gave when it could not be written to Redis (as charges: never too few). */
  restore(backs: readonly HandBack[], now: number): void {
    for (const back of backs) {
      if (back.clear) this.#cleared.add(back.lane);
      if (back.add.length > 0) {
        const units: Record<string, number> = {};
        for (const [spec, u] of back.add) units[spec.id] = u;
        this.#local.charge(back.lane, back.buckets, units, now);
      }
      if (back.cooldownUntil > now) this.#local.cooldown(back.lane, back.cooldownUntil, now);
    }
  }
}
