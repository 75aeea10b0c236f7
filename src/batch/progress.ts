/**
 * Progress of a batch run: counts and rates built from the engine's events, the runner's results and
 * samples of the limiter's state (`ProgressTracker`). Drawing them is `display.ts`.
 *
 * Rates and the ETA follow the limiter's schedule where the limits are known: a lane with work waiting
 * goes at its binding limit, and what is left takes what the buckets need to admit it. Measured rates
 * (the last 10 seconds) are used only for lanes the limits do not hold back, and never shown above the
 * limit; attempts the server refused (429, too large) do not count as admitted.
 */
import { parseLaneId } from '../engine/lane-id.js';
import type { SluiceEvent } from '../engine/events.js';
import { perMinuteLimit, scheduledRpm, scheduleMs, type LaneSample } from './schedule.js';

/** How one input line ended, for the counters. */
export type LineOutcome = 'succeeded' | 'failed' | 'bad' | 'skipped' | 'not_attempted';

export interface ProgressSnapshot {
  elapsedMs: number;
  /** Non-blank lines in the input; `undefined` while they are being counted (or, for a pipe, until its end). */
  total: number | undefined;
  /** The input is read in one pass (a pipe): its total is known only at its end. @default false */
  streaming?: boolean;
  /** Lines with an outcome (all kinds). */
  done: number;
  succeeded: number;
  failed: number;
  bad: number;
  skipped: number;
  notAttempted: number;
  /** Requests handed to the engine and not finished. */
  inFlight: number;
  /** Attempts admitted (every try counts towards the limits). */
  sent: number;
  /** Tokens reserved at admission (estimates; attempts the server refused are given back). */
  tokensAdmitted: number;
  /** Admissions per minute: the limiter's pace where it holds the lanes back, else the last seconds'. */
  requestsPerMin: number;
  tokensPerMin: number;
  /** Per-minute limits (configured or learned) of the lanes at work, summed over models. */
  rpmLimit: number | undefined;
  tpmLimit: number | undefined;
  etaMs: number | undefined;
  rateLimited: number;
  retries: number;
}

/** What one lane (upstream, key, model) admitted during the run. */
export interface LaneProgress {
  lane: string;
  model: string;
  /** Attempts admitted and not refused by the server. */
  requests: number;
  /** Tokens reserved at admission by those attempts. */
  tokens: number;
  /** When the last attempt was admitted (tracker clock). */
  lastAt: number;
  /** Per-minute limits in force (configured or learned), when known. */
  rpmLimit: number | undefined;
  tpmLimit: number | undefined;
}

/** Seconds of history behind the measured rates. */
const RATE_WINDOW_S = 10;

/** Outcomes of attempts the server refused: they did not use the limits. */
const REFUSED = new Set(['rate_limited', 'slow_down', 'request_too_large', 'quota_exhausted']);

interface Second {
  requests: number;
  tokens: number;
}

interface LaneState {
  progress: LaneProgress;
  /** Admissions per second (tracker clock), the last 2 × RATE_WINDOW_S seconds. */
  seconds: Map<number, Second>;
  sample: LaneSample | undefined;
}

export class ProgressTracker {
  readonly #start: number;
  #total: number | undefined;
  #streaming = false;
  #read = 0;
  readonly #counts: Record<LineOutcome, number> = {
    succeeded: 0,
    failed: 0,
    bad: 0,
    skipped: 0,
    not_attempted: 0,
  };
  #inFlight = 0;
  #sent = 0;
  #tokensAdmitted = 0;
  #rateLimited = 0;
  #retries = 0;
  readonly #lanes = new Map<string, LaneState>();
  #stopping = false;
  /** Lines finished per second (sent ones only), for the ETA of lanes without known limits. */
  readonly #finished = new Map<number, number>();
  /** The latest admission of each request until its answer: to take back what the server refused. */
  readonly #open = new Map<number, { lane: LaneState; second: number; tokens: number }>();
  /** Typical answer time of a successful attempt (moving average), ms. */
  #latencyMs: number | undefined;

  constructor(readonly now: () => number = Date.now) {
    this.#start = now();
  }

  setTotal(total: number): void {
    this.#total = total;
  }

  /** The input is a pipe, read once: no total until its end. */
  setStreaming(): void {
    this.#streaming = true;
  }

  /** A non-blank input line was read. */
  read(): void {
    this.#read++;
  }

  get startedAt(): number {
    return this.#start;
  }

  setLaneLimits(lane: string, rpm: number | undefined, tpm: number | undefined): void {
    const l = this.#lanes.get(lane);
    if (!l) return;
    l.progress.rpmLimit = rpm;
    l.progress.tpmLimit = tpm;
  }

  /** The limiter's state of a lane (sampled from the engine); its per-minute limits become the lane's. */
  setLaneSample(lane: string, sample: LaneSample): void {
    const l = this.#lanes.get(lane);
    if (!l) return;
    l.sample = sample;
    l.progress.rpmLimit = perMinuteLimit(sample, 'requests');
    l.progress.tpmLimit = perMinuteLimit(sample, 'tokens');
  }

  lanes(): LaneProgress[] {
    return [...this.#lanes.values()].map((l) => ({ ...l.progress }));
  }

  started(): void {
    this.#inFlight++;
  }

  /** A line has its outcome. `sent`: it went through the engine (it was `started()`). */
  line(outcome: LineOutcome, sent = false): void {
    this.#counts[outcome]++;
    if (sent) {
      this.#inFlight--;
      const second = this.#second();
      if (!this.#finished.has(second)) prune(this.#finished, second);
      this.#finished.set(second, (this.#finished.get(second) ?? 0) + 1);
    }
  }

  /** The run stops early: no ETA any more. */
  stopping(): void {
    this.#stopping = true;
  }

  /** A started line was given up without an outcome (an interrupted run). */
  abandoned(): void {
    this.#inFlight--;
  }

  /** Feeds one engine event. */
  event(event: SluiceEvent): void {
    switch (event.type) {
      case 'admitted': {
        this.#sent++;
        this.#tokensAdmitted += event.tokens;
        const lane = this.#lane(event.lane, event.at);
        const second = this.#second();
        const s = this.#slot(lane, second);
        s.requests++;
        s.tokens += event.tokens;
        lane.progress.requests++;
        lane.progress.tokens += event.tokens;
        lane.progress.lastAt = event.at;
        this.#open.set(event.id, { lane, second, tokens: event.tokens });
        break;
      }
      case 'answered': {
        const open = this.#open.get(event.id);
        this.#open.delete(event.id);
        if (open && REFUSED.has(event.outcome)) {
          // The server refused this attempt: it used none of the limits (the engine gives it back).
          open.lane.progress.requests--;
          open.lane.progress.tokens -= open.tokens;
          this.#tokensAdmitted -= open.tokens;
          const s = open.lane.seconds.get(open.second);
          if (s) {
            s.requests--;
            s.tokens -= open.tokens;
          }
        }
        if (event.outcome === 'success') {
          this.#latencyMs =
            this.#latencyMs === undefined ? event.latencyMs : 0.9 * this.#latencyMs + 0.1 * event.latencyMs;
        }
        break;
      }
      case 'succeeded':
      case 'failed':
        this.#open.delete(event.id);
        break;
      case 'rate_limited':
        this.#rateLimited++;
        break;
      case 'retried':
        this.#retries++;
        break;
      default:
        break;
    }
  }

  #lane(id: string, at: number): LaneState {
    let lane = this.#lanes.get(id);
    if (!lane) {
      lane = {
        progress: {
          lane: id,
          model: parseLaneId(id)?.model ?? id,
          requests: 0,
          tokens: 0,
          lastAt: at,
          rpmLimit: undefined,
          tpmLimit: undefined,
        },
        seconds: new Map(),
        sample: undefined,
      };
      this.#lanes.set(id, lane);
    }
    return lane;
  }

  #second(): number {
    return Math.floor(this.now() / 1000);
  }

  #slot(lane: LaneState, second: number): Second {
    let s = lane.seconds.get(second);
    if (!s) {
      s = { requests: 0, tokens: 0 };
      prune(lane.seconds, second);
      lane.seconds.set(second, s);
    }
    return s;
  }

  snapshot(): ProgressSnapshot {
    const now = this.now();
    const elapsedMs = now - this.#start;
    const span = Math.max(1, Math.min(RATE_WINDOW_S, elapsedMs / 1000));
    const from = now / 1000 - span;

    // The lanes at work: work waiting for the limiter, or admissions in the window. All lanes when none
    // is (so the limits stay shown), and a lane's limits are shown even while it waits.
    let active = [...this.#lanes.values()].filter(
      (l) => (l.sample?.waiting ?? 0) > 0 || l.progress.lastAt >= now - span * 1000,
    );
    if (active.length === 0) active = [...this.#lanes.values()];

    let requestsPerMin = 0;
    let tokensPerMin = 0;
    let rpmLimit: number | undefined;
    let tpmLimit: number | undefined;
    for (const lane of active) {
      const p = lane.progress;
      if (p.rpmLimit !== undefined) rpmLimit = (rpmLimit ?? 0) + p.rpmLimit;
      if (p.tpmLimit !== undefined) tpmLimit = (tpmLimit ?? 0) + p.tpmLimit;
      const perRequest = p.requests > 0 ? p.tokens / p.requests : 0;
      const scheduled = lane.sample ? scheduledRpm(lane.sample, perRequest, now) : undefined;
      if (lane.sample && lane.sample.waiting > 0 && scheduled !== undefined) {
        // Held back by the limiter: it admits at the binding limit.
        requestsPerMin += scheduled;
        tokensPerMin += scheduled * perRequest;
        continue;
      }
      let requests = 0;
      let tokens = 0;
      for (const [second, s] of lane.seconds) {
        if (second + 1 <= from) continue;
        requests += s.requests;
        tokens += s.tokens;
      }
      // A burst admits faster than the limit for a moment; the pace is never above it.
      requestsPerMin += Math.min((requests / span) * 60, p.rpmLimit ?? Infinity);
      tokensPerMin += Math.min((tokens / span) * 60, p.tpmLimit ?? Infinity);
    }

    const c = this.#counts;
    const done = c.succeeded + c.failed + c.bad + c.skipped + c.not_attempted;
    return {
      elapsedMs,
      total: this.#total,
      ...(this.#streaming ? { streaming: true } : {}),
      done,
      succeeded: c.succeeded,
      failed: c.failed,
      bad: c.bad,
      skipped: c.skipped,
      notAttempted: c.not_attempted,
      inFlight: this.#inFlight,
      sent: this.#sent,
      tokensAdmitted: this.#tokensAdmitted,
      requestsPerMin,
      tokensPerMin,
      rpmLimit,
      tpmLimit,
      etaMs: this.#eta(now, elapsedMs, done, span, from),
      rateLimited: this.#rateLimited,
      retries: this.#retries,
    };
  }

  /**
   * Time left: what the limiter needs to admit the requests waiting and those not read yet (shared out
   * over the lanes as the lines read so far were), plus one answer's time. Where a lane's limits are
   * unknown, or the limits do not hold the run back, the recent pace of finished lines bounds it too.
   */
  #eta(now: number, elapsedMs: number, done: number, span: number, from: number): number | undefined {
    if (this.#total === undefined || this.#stopping) return undefined;
    const remaining = Math.max(0, this.#total - done);
    if (remaining === 0) return 0;

    let finished = 0;
    for (const [second, n] of this.#finished) if (second + 1 > from) finished += n;
    const perSecond = finished / span;
    const byPace = perSecond > 0 && elapsedMs >= 2000 ? (remaining / perSecond) * 1000 : undefined;

    const lanes = [...this.#lanes.values()];
    const admitted = lanes.reduce((sum, l) => sum + l.progress.requests, 0);
    if (lanes.length === 0 || admitted === 0) return byPace;
    const unread = Math.max(0, this.#total - this.#read);
    let schedule = 0;
    let held = true;
    for (const lane of lanes) {
      const p = lane.progress;
      const waiting = (lane.sample?.waiting ?? 0) + (unread * p.requests) / admitted;
      if (waiting <= 0) continue;
      const ms = lane.sample
        ? scheduleMs(lane.sample, waiting, p.tokens / Math.max(1, p.requests), now)
        : undefined;
      if (ms === undefined) return byPace;
      schedule = Math.max(schedule, ms);
      if (!((lane.sample?.waiting ?? 0) > 0)) held = false;
    }
    const eta = schedule + (this.#inFlight > 0 || schedule > 0 ? (this.#latencyMs ?? 0) : 0);
    // Not held back by the limits (the window, the latency): the pace of finished lines says more.
    return held || byPace === undefined ? eta : Math.max(eta, byPace);
  }
}

/** Drops the seconds of a per-second map that are older than the rate window needs. */
function prune(seconds: Map<number, unknown>, now: number): void {
  for (const key of seconds.keys()) {
    if (key > now - 2 * RATE_WINDOW_S) break;
    seconds.delete(key);
  }
}
