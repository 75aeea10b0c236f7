/**
 * What the tracker keeps per lane and per app: per-second ring buffers of counts, samples of limits
 * and queue depths, and running totals.
 */
import { PRIORITIES, type Priority } from '../../engine/events.js';
import { CounterSeries, GaugeSeries } from './series.js';

/** Counter slots beyond the history: a per-minute point at the oldest second needs the minute before. */
export const SLACK = 60;

export const byPriority = <T>(make: (priority: Priority) => T): Record<Priority, T> =>
  Object.fromEntries(PRIORITIES.map((p) => [p, make(p)])) as Record<Priority, T>;

export class LaneTrack {
  readonly requests: CounterSeries;
  readonly tokens: CounterSeries;
  readonly rateLimited: CounterSeries;
  readonly retries: CounterSeries;
  readonly errors: CounterSeries;
  readonly rpmLimit: GaugeSeries;
  readonly tpmLimit: GaugeSeries;
  readonly depthSeries: Record<Priority, GaugeSeries>;
  readonly waitSum: Record<Priority, CounterSeries>;
  readonly waitCount: Record<Priority, CounterSeries>;
  readonly waitMax: Record<Priority, CounterSeries>;
  /** Apps (virtual keys) whose requests ran on the lane. */
  readonly apps = new Set<string>();
  totals = { rateLimited: 0, retries: 0, errors: 0 };
  lastSeen = 0;

  constructor(history: number) {
    const counter = () => new CounterSeries(history + SLACK);
    const gauge = () => new GaugeSeries(history);
    this.requests = counter();
    this.tokens = counter();
    this.rateLimited = counter();
    this.retries = counter();
    this.errors = counter();
    this.rpmLimit = gauge();
    this.tpmLimit = gauge();
    this.depthSeries = byPriority(gauge);
    this.waitSum = byPriority(counter);
    this.waitCount = byPriority(counter);
    this.waitMax = byPriority(counter);
  }
}

export class AppTrack {
  readonly requests: CounterSeries;
  readonly errors: CounterSeries;
  totals = { requests: 0, errors: 0 };
  tokens: number | null = null;

  constructor(history: number) {
    this.requests = new CounterSeries(history + SLACK);
    this.errors = new CounterSeries(history + SLACK);
  }
}
