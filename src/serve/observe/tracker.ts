/**
 * What `/api/stats` and the dashboard show, kept up to date from the engine's events and the gateway's
 * request records: per lane, per-second counts over the last minutes (ring buffers, so memory stays
 * flat), the queue by priority, trips; per app, usage; gateway-wide totals. `snapshot()` joins that
 * with a fresh `engine.stats()` read.
 */
import type { LaneStats } from '../../engine/lane.js';
import { PRIORITIES, type Priority, type SluiceEvent } from '../../engine/events.js';
import type { RequestRecord } from '../context.js';
import { laneMode } from './mode.js';
import { CounterSeries } from './series.js';
import { AppTrack, byPriority, LaneTrack, SLACK } from './tracks.js';
import type { AppSnapshot, LaneSnapshot, PriorityQueue, StatsSnapshot } from './snapshot.js';

export interface TrackerOptions {
  /** Seconds of history in every series. */
  historySeconds: number;
  /** Lanes tracked at most; events of further lanes are not kept (the engine's stats still list them). */
  maxLanes: number;
  /** When the gateway started (epoch ms): series start no earlier. */
  startedAt: number;
}

/** The app's name and class from the config, for the per-app table. */
export interface AppInfo {
  name: string;
  priority: Priority;
}

/** A request record as the tracker reads it: `tokens` is used when the gateway reports it. */
type Recorded = RequestRecord & { tokens?: number };

const MINUTE = 60;

export class Tracker {
  readonly #options: TrackerOptions;
  readonly #lanes = new Map<string, LaneTrack>();
  readonly #apps = new Map<string, AppTrack>();
  readonly #answered: CounterSeries;
  readonly #errors: CounterSeries;
  readonly #rateLimited: CounterSeries;
  readonly #retries: CounterSeries;
  #totals = { requests: 0, errors: 0, rateLimited: 0, retries: 0 };

  constructor(options: TrackerOptions) {
    this.#options = options;
    const length = options.historySeconds + SLACK;
    this.#answered = new CounterSeries(length);
    this.#errors = new CounterSeries(length);
    this.#rateLimited = new CounterSeries(length);
    this.#retries = new CounterSeries(length);
  }

  onEvent(event: SluiceEvent): void {
    const lane = this.#lane(event.lane, event.at);
    switch (event.type) {
      case 'admitted': {
        lane?.requests.add(event.at, 1);
        lane?.tokens.add(event.at, event.tokens);
        return;
      }
      case 'settled':
        lane?.tokens.add(event.at, event.actualTokens - event.estimatedTokens);
        return;
      case 'rate_limited':
        this.#totals.rateLimited++;
        this.#rateLimited.add(event.at);
        if (lane) {
          lane.totals.rateLimited++;
          lane.rateLimited.add(event.at);
        }
        return;
      case 'retried':
        this.#totals.retries++;
        this.#retries.add(event.at);
        if (lane) {
          lane.totals.retries++;
          lane.retries.add(event.at);
        }
        return;
      default:
        return;
    }
  }

  onRecord(record: Recorded, now: number): void {
    const error = record.status >= 400;
    this.#totals.requests++;
    this.#answered.add(now);
    if (error) {
      this.#totals.errors++;
      this.#errors.add(now);
    }
    const lane = record.lane === undefined ? undefined : this.#lane(record.lane, now);
    if (lane && record.app !== undefined) lane.apps.add(record.app);
    if (lane && error) {
      lane.totals.errors++;
      lane.errors.add(now);
    }
    if (lane && record.priority && record.attempts > 0 && isPriority(record.priority)) {
      lane.waitSum[record.priority].add(now, record.queuedMs);
      lane.waitCount[record.priority].add(now, 1);
      lane.waitMax[record.priority].max(now, record.queuedMs);
    }
    if (record.app !== undefined) {
      const app = this.#app(record.app);
      app.totals.requests++;
      app.requests.add(now);
      if (error) {
        app.totals.errors++;
        app.errors.add(now);
      }
      if (typeof record.tokens === 'number' && Number.isFinite(record.tokens))
        app.tokens = (app.tokens ?? 0) + record.tokens;
    }
  }

  /**
   * Records the limits and queue depths of this second, and forgets lanes the engine has dropped and
   * that have been quiet for the whole history.
   */
  sample(stats: readonly LaneStats[], now: number): void {
    const live = new Set<string>();
    for (const s of stats) {
      live.add(s.lane);
      const lane = this.#lanes.get(s.lane);
      if (!lane) continue;
      lane.rpmLimit.set(now, limitOf(s, 'requests') ?? NaN);
      lane.tpmLimit.set(now, limitOf(s, 'tokens') ?? NaN);
      for (const p of PRIORITIES) lane.depthSeries[p].set(now, s.queuedByPriority[p]);
    }
    const horizon = now - this.#options.historySeconds * 1000;
    for (const [id, lane] of this.#lanes) {
      if (!live.has(id) && lane.lastSeen < horizon) this.#lanes.delete(id);
    }
  }

  snapshot(
    stats: readonly LaneStats[],
    now: number,
    gateway: StatsSnapshot['gateway'],
    apps: readonly AppInfo[],
  ): StatsSnapshot {
    this.sample(stats, now);
    const to = Math.floor(now / 1000);
    const from = Math.max(to - this.#options.historySeconds + 1, Math.floor(this.#options.startedAt / 1000));
    const lanes = stats.map((s) => this.#laneSnapshot(s, now, from, to));
    const sum = (pick: (l: LaneSnapshot) => number) => lanes.reduce((t, l) => t + pick(l), 0);
    return {
      at: now,
      gateway,
      time: { startMs: from * 1000, stepMs: 1000, points: to - from + 1 },
      totals: {
        ...this.#totals,
        errors5m: this.#errors.sum(to - 5 * MINUTE + 1, to),
        rateLimited15m: this.#rateLimited.sum(to - 15 * MINUTE + 1, to),
        retries15m: this.#retries.sum(to - 15 * MINUTE + 1, to),
        requestsPerMinute: sum((l) => l.requestsPerMinute),
        tokensPerMinute: sum((l) => l.tokensPerMinute),
        answeredPerMinute: this.#answered.sum(to - MINUTE + 1, to),
        queued: sum((l) => l.queued),
        inFlight: sum((l) => l.inFlight),
      },
      lanes,
      apps: this.#appSnapshots(apps, to),
    };
  }

  #laneSnapshot(s: LaneStats, now: number, from: number, to: number): LaneSnapshot {
    const [upstream = s.upstream, key = 'none'] = s.lane.split('|');
    const track = this.#lanes.get(s.lane);
    const limits: LaneSnapshot['limits'] = {};
    const rpm = limitOf(s, 'requests');
    const tpm = limitOf(s, 'tokens');
    const rpd = limitOf(s, 'requests', 86_400_000);
    const tpd = limitOf(s, 'tokens', 86_400_000);
    if (rpm !== undefined) limits.rpm = rpm;
    if (tpm !== undefined) limits.tpm = tpm;
    if (rpd !== undefined) limits.rpd = rpd;
    if (tpd !== undefined) limits.tpd = tpd;
    const queue = byPriority<PriorityQueue>((p) => ({
      depth: s.queuedByPriority[p],
      sentLastMinute: 0,
      waitAvgMs: 0,
      waitMaxMs: 0,
    }));
    if (track) {
      for (const p of PRIORITIES) {
        const sent = track.waitCount[p].sum(to - MINUTE + 1, to);
        queue[p].sentLastMinute = sent;
        queue[p].waitAvgMs = sent > 0 ? round(track.waitSum[p].sum(to - MINUTE + 1, to) / sent) : 0;
        queue[p].waitMaxMs = round(track.waitMax[p].maxOver(to - MINUTE + 1, to));
      }
    }
    const series = track ? this.#series(track, from, to) : emptySeries(to - from + 1);
    return {
      id: s.lane,
      upstream,
      model: s.model,
      key,
      apps: track ? [...track.apps] : [],
      mode: laneMode(s),
      limits,
      buckets: s.buckets.map((b) => ({
        dimension: b.dimension,
        windowMs: b.windowMs,
        limit: round(b.limit),
        capacity: round(b.capacity),
        level: round(b.level),
      })),
      queued: s.queued,
      inFlight: s.inFlight,
      requestsPerMinute: series.requestsPerMinute.at(-1) ?? 0,
      tokensPerMinute: series.tokensPerMinute.at(-1) ?? 0,
      series,
      queue,
      rateLimited: counts(track?.rateLimited, track?.totals.rateLimited ?? 0, to),
      retries: counts(track?.retries, track?.totals.retries ?? 0, to),
      errors: counts(track?.errors, track?.totals.errors ?? 0, to),
    };
  }

  #series(track: LaneTrack, from: number, to: number): LaneSnapshot['series'] {
    return {
      requestsPerMinute: track.requests.rolling(from, to, MINUTE),
      tokensPerMinute: track.tokens.rolling(from, to, MINUTE).map(Math.round),
      rpmLimit: track.rpmLimit.values(from, to),
      tpmLimit: track.tpmLimit.values(from, to),
      queued: byPriority((p) => track.depthSeries[p].values(from, to)),
    };
  }

  #appSnapshots(configured: readonly AppInfo[], to: number): AppSnapshot[] {
    const out: AppSnapshot[] = [];
    const seen = new Set<string>();
    const row = (name: string, priority: Priority | undefined): AppSnapshot => {
      const app = this.#apps.get(name);
      return {
        name,
        ...(priority ? { priority } : {}),
        requests: app?.totals.requests ?? 0,
        requestsPerMinute: app ? app.requests.sum(to - MINUTE + 1, to) : 0,
        tokens: app?.tokens ?? null,
        errors: app?.totals.errors ?? 0,
        errors15m: app ? app.errors.sum(to - 15 * MINUTE + 1, to) : 0,
      };
    };
    for (const app of configured) {
      seen.add(app.name);
      out.push(row(app.name, app.priority));
    }
    for (const name of this.#apps.keys()) if (!seen.has(name)) out.push(row(name, undefined));
    return out;
  }

  #lane(id: string, at: number): LaneTrack | undefined {
    let lane = this.#lanes.get(id);
    if (!lane) {
      if (this.#lanes.size >= this.#options.maxLanes) return undefined;
      lane = new LaneTrack(this.#options.historySeconds);
      this.#lanes.set(id, lane);
    }
    lane.lastSeen = Math.max(lane.lastSeen, at);
    return lane;
  }

  #app(name: string): AppTrack {
    let app = this.#apps.get(name);
    if (!app) {
      app = new AppTrack(this.#options.historySeconds);
      this.#apps.set(name, app);
    }
    return app;
  }
}

function emptySeries(points: number): LaneSnapshot['series'] {
  const zeros = () => new Array<number>(points).fill(0);
  const nulls = () => new Array<number | null>(points).fill(null);
  return {
    requestsPerMinute: zeros(),
    tokensPerMinute: zeros(),
    rpmLimit: nulls(),
    tpmLimit: nulls(),
    queued: byPriority(nulls),
  };
}

function counts(series: CounterSeries | undefined, total: number, to: number) {
  return {
    total,
    last15m: series ? series.sum(to - 15 * MINUTE + 1, to) : 0,
    lastMinute: series ? series.sum(to - MINUTE + 1, to) : 0,
  };
}

function isPriority(value: string): value is Priority {
  return (PRIORITIES as readonly string[]).includes(value);
}

/** The per-minute (or per-day) limit of a dimension, when the lane has such a bucket. */
function limitOf(s: LaneStats, dimension: 'requests' | 'tokens', windowMs = 60_000): number | undefined {
  const b = s.buckets.find((x) => x.dimension === dimension && x.windowMs === windowMs);
  return b === undefined ? undefined : round(b.limit);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
