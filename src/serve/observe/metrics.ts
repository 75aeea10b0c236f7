/**
 * `/metrics` in Prometheus text, on a registry of the gateway's own (never prom-client's global one, so
 * that two gateways in one process, or an app embedding one, do not mix their figures).
 *
 * Counters and histograms move with the engine's events and the gateway's request records; gauges of
 * the lanes (limits, levels, queue, mode) are read from `engine.stats()` at scrape time. Every label has
 * a bounded set of values: lane ids (upstream | key fingerprint | model — never a key) up to
 * `maxLanes`, then `other`; apps only from the config; priorities, modes and outcomes from fixed lists.
 * docs/serve.md ("Metrics") lists every metric.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CacheStats } from '../../cache/cache.js';
import type { LaneStats } from '../../engine/lane.js';
import { PRIORITIES, type SluiceEvent } from '../../engine/events.js';
import type { RequestRecord } from '../context.js';
import { FastHistogram } from './fast-histogram.js';
import { PendingCounter } from './pending-counter.js';
import { laneMode, MODE_KINDS } from './mode.js';

export interface MetricsOptions {
  /** Distinct lane label values before further lanes are counted as `other`. */
  maxLanes: number;
  /** Also export prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). */
  processMetrics: boolean;
}

/** Seconds; fine enough below a millisecond for the gateway's own overhead. */
const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];
const TTFB_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const WAIT_BUCKETS = [0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The statuses a shared store reports (the Redis store's; see `RedisStoreStatus`). */
const STORE_STATUSES = ['redis', 'local-share', 'fail-closed'] as const;

/** Maps lane ids to label values, at most `max` of them; the rest share `other`. */
export class LaneLabels {
  readonly #known = new Set<string>();
  constructor(readonly max: number) {}

  of(lane: string): string {
    if (this.#known.has(lane)) return lane;
    if (this.#known.size >= this.max) return 'other';
    this.#known.add(lane);
    return lane;
  }
}

/** What kind of request a record is, for the latency histograms. */
function kindOf(record: RequestRecord): 'llm' | 'passthrough' | 'refused' {
  if (record.lane !== undefined) return 'llm';
  return record.outcome === 'passthrough' ? 'passthrough' : 'refused';
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #lanes: LaneLabels;

  readonly #requests: PendingCounter<'outcome' | 'code' | 'app'>;
  readonly #rateLimited: PendingCounter<'lane' | 'per_day'>;
  readonly #retries: PendingCounter<'lane' | 'reason'>;
  readonly #admittedRequests: PendingCounter<'lane'>;
  readonly #admittedTokens: PendingCounter<'lane'>;
  readonly #usageTokens: PendingCounter<'lane'>;
  readonly #trips: PendingCounter<'lane'>;
  readonly #ttfb: FastHistogram<'kind'>;
  readonly #added: FastHistogram<'kind'>;
  readonly #wait: FastHistogram<'priority'>;
  readonly #queueDepth: Gauge<'lane' | 'priority'>;
  readonly #queued: Gauge<'lane'>;
  readonly #inFlight: Gauge<'lane'>;
  readonly #limit: Gauge<'lane' | 'dimension' | 'window'>;
  readonly #level: Gauge<'lane' | 'dimension' | 'window'>;
  readonly #capacity: Gauge<'lane' | 'dimension' | 'window'>;
  readonly #mode: Gauge<'lane' | 'mode'>;
  readonly #cooldown: Gauge<'lane'>;

  constructor(options: MetricsOptions) {
    this.#lanes = new LaneLabels(options.maxLanes);
    const registers = [this.registry];
    this.#requests = new PendingCounter({
      name: 'sluice_requests_total',
      help: 'Requests answered by the gateway, by outcome (success, fatal, passthrough, or a Sluice error code), HTTP status code and app.',
      labelNames: ['outcome', 'code', 'app'],
      registers,
    });
    this.#rateLimited = new PendingCounter({
      name: 'sluice_upstream_rate_limited_total',
      help: 'Rate-limit answers (429) from the upstream, each of which paused its lane.',
      labelNames: ['lane', 'per_day'],
      registers,
    });
    this.#retries = new PendingCounter({
      name: 'sluice_retries_total',
      help: 'Attempts retried after a transient failure (5xx, 408, 409, network), by reason.',
      labelNames: ['lane', 'reason'],
      registers,
    });
    this.#admittedRequests = new PendingCounter({
      name: 'sluice_lane_admitted_requests_total',
      help: 'Attempts admitted on the lane: what counts against its requests-per-minute limit.',
      labelNames: ['lane'],
      registers,
    });
    this.#admittedTokens = new PendingCounter({
      name: 'sluice_lane_admitted_tokens_total',
      help: 'Tokens reserved at admission on the lane (the estimate each attempt was charged).',
      labelNames: ['lane'],
      registers,
    });
    this.#usageTokens = new PendingCounter({
      name: 'sluice_lane_usage_tokens_total',
      help: 'Tokens the upstream reported as used (usage) where the engine settled its ledger to them.',
      labelNames: ['lane'],
      registers,
    });
    this.#trips = new PendingCounter({
      name: 'sluice_lane_trips_total',
      help: 'Times the lane was tripped by a quota error (requests then fail fast until a probe succeeds).',
      labelNames: ['lane'],
      registers,
    });
    this.#ttfb = new FastHistogram({
      name: 'sluice_ttfb_seconds',
      help: "From a request's arrival to its answer's headers, by kind (llm, passthrough, refused).",
      labelNames: ['kind'],
      buckets: TTFB_BUCKETS,
      registers,
    });
    this.#added = new FastHistogram({
      name: 'sluice_added_latency_seconds',
      help: "The gateway's own share of the time to first byte: ttfb minus upstream time minus time queued.",
      labelNames: ['kind'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#wait = new FastHistogram({
      name: 'sluice_admission_wait_seconds',
      help: 'Time LLM requests waited for admission (all attempts), by priority class.',
      labelNames: ['priority'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#queueDepth = new Gauge({
      name: 'sluice_queue_depth',
      help: 'Requests waiting for admission on the lane, by priority class.',
      labelNames: ['lane', 'priority'],
      registers,
    });
    this.#queued = new Gauge({
      name: 'sluice_lane_queued',
      help: "Requests waiting for admission on the lane (the engine's own count).",
      labelNames: ['lane'],
      registers,
    });
    this.#inFlight = new Gauge({
      name: 'sluice_lane_in_flight',
      help: 'Requests sent upstream on the lane and not yet finished.',
      labelNames: ['lane'],
      registers,
    });
    this.#limit = new Gauge({
      name: 'sluice_lane_limit',
      help: 'The limit the lane is paced to (configured and learned, the stricter), per window.',
      labelNames: ['lane', 'dimension', 'window'],
      registers,
    });
    this.#level = new Gauge({
      name: 'sluice_lane_level',
      help: "Units of the limit in use now (the bucket's level; it drains continuously at the limit's rate).",
      labelNames: ['lane', 'dimension', 'window'],
      registers,
    });
    this.#capacity = new Gauge({
      name: 'sluice_lane_capacity',
      help: 'Units the bucket can hold at once (the burst).',
      labelNames: ['lane', 'dimension', 'window'],
      registers,
    });
    this.#mode = new Gauge({
      name: 'sluice_lane_mode',
      help: "1 for the lane's current mode (open, cooling, probing, tripped), 0 for the others.",
      labelNames: ['lane', 'mode'],
      registers,
    });
    this.#cooldown = new Gauge({
      name: 'sluice_lane_cooldown_seconds',
      help: 'Seconds until a cooling lane (after a 429) may send again; 0 when it is not cooling.',
      labelNames: ['lane'],
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  onEvent(event: SluiceEvent): void {
    switch (event.type) {
      case 'admitted': {
        const lane = this.#lanes.of(event.lane);
        this.#admittedRequests.inc([lane]);
        if (event.tokens > 0) this.#admittedTokens.inc([lane], event.tokens);
        return;
      }
      case 'settled':
        if (event.actualTokens > 0) this.#usageTokens.inc([this.#lanes.of(event.lane)], event.actualTokens);
        return;
      case 'rate_limited':
        this.#rateLimited.inc([this.#lanes.of(event.lane), String(event.perDay)]);
        return;
      case 'retried':
        this.#retries.inc([this.#lanes.of(event.lane), event.reason]);
        return;
      case 'lane_tripped':
        this.#trips.inc([this.#lanes.of(event.lane)]);
        return;
      default:
        return;
    }
  }

  onRecord(record: RequestRecord, apps: ReadonlySet<string>): void {
    const app = record.app !== undefined && apps.has(record.app) ? record.app : '';
    this.#requests.inc([record.outcome, String(record.status), app]);
    const kind = kindOf(record);
    this.#ttfb.observe([kind], record.ttfbMs / 1000);
    if (record.upstreamMs > 0) {
      const own = Math.max(0, record.ttfbMs - record.upstreamMs - record.queuedMs);
      this.#added.observe([kind], own / 1000);
    }
    if (record.lane !== undefined && record.attempts > 0 && record.priority !== undefined)
      this.#wait.observe([record.priority], record.queuedMs / 1000);
  }

  /**
   * `sluice_store_status{status}`: 1 for the way the lane store decides now, 0 for the others — with
   * Redis, `redis` while it answers, `local-share` or `fail-closed` during an outage (docs/redis.md).
   */
  watchStore(status: () => string | undefined): void {
    new Gauge({
      name: 'sluice_store_status',
      help: 'How the shared lane store decides now: 1 for the current status (redis, local-share, fail-closed).',
      labelNames: ['status'],
      registers: [this.registry],
      collect() {
        const now = status();
        if (now === undefined) return;
        for (const s of STORE_STATUSES) this.set({ status: s }, s === now ? 1 : 0);
      },
    });
  }

  /** Exports the response cache's counters (read at scrape time). */
  watchCache(stats: Readonly<CacheStats>): void {
    const counters: [keyof CacheStats, string, string][] = [
      [
        'hits',
        'sluice_cache_hits_total',
        'Requests answered from the response cache (nothing sent, nothing reserved).',
      ],
      ['misses', 'sluice_cache_misses_total', 'Requests the cache could have answered but had no entry for.'],
      [
        'bypassed',
        'sluice_cache_bypassed_total',
        'Requests that left the cache alone (off, no-store, or not opted in).',
      ],
      ['coalesced', 'sluice_cache_coalesced_total', 'Requests that waited for an identical one in flight.'],
      ['stored', 'sluice_cache_stored_total', 'Answers stored in the cache.'],
      ['tokensSaved', 'sluice_cache_tokens_saved_total', 'Tokens the cache hits would have used.'],
    ];
    for (const [field, name, help] of counters) {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const now = stats[field];
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    }
  }

  /**
   * Sets the lane gauges from a stats read. Gauges are cleared first, so lanes the engine has dropped
   * disappear; lanes beyond `maxLanes` get no gauges (they would collide on `other`).
   */
  refresh(stats: readonly LaneStats[], now: number): void {
    for (const g of [
      this.#queueDepth,
      this.#queued,
      this.#inFlight,
      this.#limit,
      this.#level,
      this.#capacity,
      this.#mode,
      this.#cooldown,
    ])
      g.reset();
    for (const s of stats) {
      const lane = this.#lanes.of(s.lane);
      if (lane === 'other') continue;
      this.#queued.set({ lane }, s.queued);
      this.#inFlight.set({ lane }, s.inFlight);
      for (const priority of PRIORITIES)
        this.#queueDepth.set({ lane, priority }, s.queuedByPriority[priority]);
      for (const b of s.buckets) {
        const labels = { lane, dimension: b.dimension, window: windowName(b.windowMs) };
        this.#limit.set(labels, b.limit);
        this.#level.set(labels, b.level);
        this.#capacity.set(labels, b.capacity);
      }
      const mode = laneMode(s);
      for (const kind of MODE_KINDS) this.#mode.set({ lane, mode: kind }, kind === mode.kind ? 1 : 0);
      this.#cooldown.set({ lane }, mode.kind === 'cooling' ? Math.max(0, (mode.until - now) / 1000) : 0);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function windowName(ms: number): string {
  if (ms === 60_000) return 'minute';
  if (ms === 86_400_000) return 'day';
  return `${Math.round(ms / 1000)}s`;
}
