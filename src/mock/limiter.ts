/**
 * The server's ledger: buckets per lane (API key, model), quotas per key, the slow_down rule.
 *
 * `admit` is all-or-nothing: a request is charged in every bucket of its lane, or in none (unless
 * `countRejected`, which charges a refused request one request). Decisions are values; nothing here
 * knows about HTTP or dialects.
 */
import { Bucket } from './bucket.js';
import type { ResolvedMockOptions } from './options.js';

export type Dimension = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens';
export type Period = 'minute' | 'day';

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** What one request costs in each dimension at admission. */
export interface Cost {
  /** Always 1; kept as a field so every dimension reads the same way. */
  requests: number;
  /** Prompt tokens + n × max tokens. */
  tokens: number;
  /** Prompt tokens (Anthropic's input-token limit). */
  inputTokens: number;
  /** n × max tokens (Anthropic's output-token limit). */
  outputTokens: number;
}

interface LaneBucket {
  readonly dimension: Dimension;
  readonly period: Period;
  readonly bucket: Bucket;
}

/** What the headers say about one dimension: its binding bucket. */
export interface BucketView {
  dimension: Dimension;
  period: Period;
  limit: number;
  remaining: number;
  /** Milliseconds until the bucket is fully refilled. */
  resetMs: number;
}

export class Lane {
  /** Requests admitted in `second` and in the second before it (the slow_down rule). */
  second = Number.NEGATIVE_INFINITY;
  admittedThisSecond = 0;
  admittedLastSecond = 0;

  constructor(
    readonly key: string,
    readonly model: string,
    readonly buckets: readonly LaneBucket[],
  ) {}

  /**
   * The binding bucket of `dimension` at `now`: the one with the smallest remaining / limit (per-minute
   * first on a tie), or `undefined` when the dimension is unlimited.
   */
  view(dimension: Dimension, now: number): BucketView | undefined {
    let best: BucketView | undefined;
    let bestFraction = Number.POSITIVE_INFINITY;
    for (const b of this.buckets) {
      if (b.dimension !== dimension) continue;
      const remaining = b.bucket.remaining(now);
      const fraction = remaining / b.bucket.limit;
      if (fraction < bestFraction) {
        bestFraction = fraction;
        best = {
          dimension,
          period: b.period,
          limit: b.bucket.limit,
          remaining,
          resetMs: b.bucket.resetMs(now),
        };
      }
    }
    return best;
  }
}

export type Decision =
  | { kind: 'admitted' }
  | {
      kind: 'rate_limited';
      dimension: Dimension;
      period: Period;
      limit: number;
      /** The bucket's level, rounded up. */
      used: number;
      requested: number;
      waitMs: number;
    }
  | { kind: 'too_large'; dimension: Dimension; period: Period; limit: number; requested: number }
  | { kind: 'quota' }
  | { kind: 'slow_down'; waitMs: number };

interface KeyUsage {
  requests: number;
  tokens: number;
}

export class Limiter {
  readonly #options: ResolvedMockOptions;
  readonly #lanes = new Map<string, Lane>();
  readonly #usage = new Map<string, KeyUsage>();

  constructor(options: ResolvedMockOptions) {
    this.#options = options;
  }

  /** The lane of (key, model), created on first use with empty buckets. */
  lane(key: string, model: string): Lane {
    const id = `${key}\u0000${model}`;
    let lane = this.#lanes.get(id);
    if (lane === undefined) {
      lane = new Lane(key, model, this.#buckets());
      this.#lanes.set(id, lane);
    }
    return lane;
  }

  /**
   * Decides one request at `now`. Order: quota, "too large", the buckets (the refusal with the longest
   * wait is reported), slow_down. Only `admitted` charges (and counts `billedTokens` against the quota).
   */
  admit(lane: Lane, cost: Cost, billedTokens: number, now: number): Decision {
    const o = this.#options;
    const usage = this.#keyUsage(lane.key);
    if (
      (o.quotaRequests !== undefined && usage.requests >= o.quotaRequests) ||
      (o.quotaTokens !== undefined && usage.tokens >= o.quotaTokens)
    ) {
      return { kind: 'quota' };
    }

    for (const b of lane.buckets) {
      const requested = cost[b.dimension];
      if (requested > b.bucket.capacity) {
        return {
          kind: 'too_large',
          dimension: b.dimension,
          period: b.period,
          limit: b.bucket.limit,
          requested,
        };
      }
    }

    let refusal: Extract<Decision, { kind: 'rate_limited' }> | undefined;
    for (const b of lane.buckets) {
      const requested = cost[b.dimension];
      if (b.bucket.fits(now, requested)) continue;
      const waitMs = b.bucket.waitMs(now, requested);
      if (refusal === undefined || waitMs > refusal.waitMs) {
        refusal = {
          kind: 'rate_limited',
          dimension: b.dimension,
          period: b.period,
          limit: b.bucket.limit,
          used: b.bucket.used(now),
          requested,
          waitMs,
        };
      }
    }
    if (refusal !== undefined) {
      this.#chargeRejected(lane, now);
      return refusal;
    }

    if (o.slowDownFactor !== undefined) {
      const second = Math.floor(now / 1000);
      if (second !== lane.second) {
        lane.admittedLastSecond = second === lane.second + 1 ? lane.admittedThisSecond : 0;
        lane.admittedThisSecond = 0;
        lane.second = second;
      }
      const allowed = Math.max(o.slowDownMin, o.slowDownFactor * lane.admittedLastSecond);
      if (lane.admittedThisSecond + 1 > allowed) {
        this.#chargeRejected(lane, now);
        return { kind: 'slow_down', waitMs: (second + 1) * 1000 - now };
      }
      lane.admittedThisSecond += 1;
    }

    for (const b of lane.buckets) b.bucket.charge(now, cost[b.dimension]);
    usage.requests += 1;
    usage.tokens += billedTokens;
    return { kind: 'admitted' };
  }

  /**
   * Corrects an admitted request's charge once its usage is known (`--settle usage`): adds
   * `actual − charged` in each dimension; levels never go below 0.
   */
  settle(lane: Lane, charged: Cost, actual: Cost, now: number): void {
    for (const b of lane.buckets) {
      const delta = actual[b.dimension] - charged[b.dimension];
      if (delta !== 0) b.bucket.charge(now, delta);
    }
  }

  /** Forgets every lane and every key's usage. */
  reset(): void {
    this.#lanes.clear();
    this.#usage.clear();
  }

  #chargeRejected(lane: Lane, now: number): void {
    if (!this.#options.countRejected) return;
    for (const b of lane.buckets) if (b.dimension === 'requests') b.bucket.charge(now, 1);
  }

  #keyUsage(key: string): KeyUsage {
    let usage = this.#usage.get(key);
    if (usage === undefined) {
      usage = { requests: 0, tokens: 0 };
      this.#usage.set(key, usage);
    }
    return usage;
  }

  #buckets(): LaneBucket[] {
    const o = this.#options;
    const out: LaneBucket[] = [];
    const perMinute = (dimension: Dimension, limit: number | undefined): void => {
      if (limit !== undefined) {
        out.push({
          dimension,
          period: 'minute',
          bucket: new Bucket(limit, MINUTE_MS, (limit * o.burstSeconds) / 60),
        });
      }
    };
    const perDay = (dimension: Dimension, limit: number | undefined): void => {
      if (limit !== undefined)
        out.push({ dimension, period: 'day', bucket: new Bucket(limit, DAY_MS, limit) });
    };
    perMinute('requests', o.rpm);
    perMinute('tokens', o.tpm);
    perMinute('inputTokens', o.itpm);
    perMinute('outputTokens', o.otpm);
    perDay('requests', o.rpd);
    perDay('tokens', o.tpd);
    return out;
  }
}
