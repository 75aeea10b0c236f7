/**
 * Progress of a batch run: counts and recent rates built from the engine's events and the runner's
 * results (`ProgressTracker`), pure formatting of a bar, a plain line and the final summary, and a
 * reporter that draws them on a terminal (redrawn in place), as periodic lines (not a terminal), or not
 * at all (`--quiet`).
 */
import type { SluiceEvent } from '../engine/events.js';
import { parseLaneId } from '../engine/lane-id.js';

/** How one input line ended, for the counters. */
export type LineOutcome = 'succeeded' | 'failed' | 'bad' | 'skipped' | 'not_attempted';

export interface ProgressSnapshot {
  elapsedMs: number;
  /** Non-blank lines in the input; `undefined` while they are being counted. */
  total: number | undefined;
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
  /** Tokens reserved at admission (estimates). */
  tokensAdmitted: number;
  /** Recent admissions per minute. */
  requestsPerMin: number;
  tokensPerMin: number;
  /** Per-minute limits (configured or learned) of the lanes that admitted recently, summed over models. */
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
  /** Attempts admitted. */
  requests: number;
  /** Tokens reserved at admission. */
  tokens: number;
  /** When the last attempt was admitted (tracker clock). */
  lastAt: number;
  /** Per-minute limits in force (configured or learned), when known. */
  rpmLimit: number | undefined;
  tpmLimit: number | undefined;
}

/** Seconds of history behind the recent rates. */
const RATE_WINDOW_S = 10;

export class ProgressTracker {
  readonly #start: number;
  #total: number | undefined;
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
  readonly #lanes = new Map<string, LaneProgress>();
  #stopping = false;
  /** Per-second ring: admitted requests, admitted tokens, finished lines (sent ones only). */
  readonly #seconds = new Map<number, { requests: number; tokens: number; finished: number }>();

  constructor(readonly now: () => number = Date.now) {
    this.#start = now();
  }

  setTotal(total: number): void {
    this.#total = total;
  }

  get startedAt(): number {
    return this.#start;
  }

  setLaneLimits(lane: string, rpm: number | undefined, tpm: number | undefined): void {
    const l = this.#lanes.get(lane);
    if (!l) return;
    l.rpmLimit = rpm;
    l.tpmLimit = tpm;
  }

  lanes(): LaneProgress[] {
    return [...this.#lanes.values()].map((l) => ({ ...l }));
  }

  started(): void {
    this.#inFlight++;
  }

  /** A line has its outcome. `sent`: it went through the engine (it was `started()`). */
  line(outcome: LineOutcome, sent = false): void {
    this.#counts[outcome]++;
    if (sent) {
      this.#inFlight--;
      this.#second().finished++;
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
        const s = this.#second();
        s.requests++;
        s.tokens += event.tokens;
        let lane = this.#lanes.get(event.lane);
        if (!lane) {
          lane = {
            lane: event.lane,
            model: parseLaneId(event.lane)?.model ?? event.lane,
            requests: 0,
            tokens: 0,
            lastAt: event.at,
            rpmLimit: undefined,
            tpmLimit: undefined,
          };
          this.#lanes.set(event.lane, lane);
        }
        lane.requests++;
        lane.tokens += event.tokens;
        lane.lastAt = event.at;
        break;
      }
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

  #second() {
    const second = Math.floor(this.now() / 1000);
    let s = this.#seconds.get(second);
    if (!s) {
      s = { requests: 0, tokens: 0, finished: 0 };
      this.#seconds.set(second, s);
      for (const key of this.#seconds.keys()) {
        if (key > second - 2 * RATE_WINDOW_S) break;
        this.#seconds.delete(key);
      }
    }
    return s;
  }

  snapshot(): ProgressSnapshot {
    const now = this.now();
    const elapsedMs = now - this.#start;
    const span = Math.max(1, Math.min(RATE_WINDOW_S, elapsedMs / 1000));
    const from = now / 1000 - span;
    let requests = 0;
    let tokens = 0;
    let finished = 0;
    for (const [second, s] of this.#seconds) {
      if (second + 1 <= from) continue;
      requests += s.requests;
      tokens += s.tokens;
      finished += s.finished;
    }
    // The limits shown against the recent rates: those of the lanes (models) that admitted in the same window.
    let rpmLimit: number | undefined;
    let tpmLimit: number | undefined;
    for (const lane of this.#lanes.values()) {
      if (lane.lastAt < now - span * 1000) continue;
      if (lane.rpmLimit !== undefined) rpmLimit = (rpmLimit ?? 0) + lane.rpmLimit;
      if (lane.tpmLimit !== undefined) tpmLimit = (tpmLimit ?? 0) + lane.tpmLimit;
    }
    const c = this.#counts;
    const done = c.succeeded + c.failed + c.bad + c.skipped + c.not_attempted;
    const remaining = this.#total === undefined ? undefined : Math.max(0, this.#total - done);
    const perSecond = finished / span;
    const etaMs =
      remaining === undefined || this.#stopping
        ? undefined
        : remaining === 0
          ? 0
          : perSecond > 0 && elapsedMs >= 2000
            ? (remaining / perSecond) * 1000
            : undefined;
    return {
      elapsedMs,
      total: this.#total,
      done,
      succeeded: c.succeeded,
      failed: c.failed,
      bad: c.bad,
      skipped: c.skipped,
      notAttempted: c.not_attempted,
      inFlight: this.#inFlight,
      sent: this.#sent,
      tokensAdmitted: this.#tokensAdmitted,
      requestsPerMin: (requests / span) * 60,
      tokensPerMin: (tokens / span) * 60,
      rpmLimit,
      tpmLimit,
      etaMs,
      rateLimited: this.#rateLimited,
      retries: this.#retries,
    };
  }
}

// ---- formatting (pure) ----

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1,234`. */
export function formatCount(n: number): string {
  return int.format(Math.round(n));
}

/** `950`, `12.3k`, `290k`, `1.2M`. */
export function formatCompact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n));
  if (abs < 100_000) return `${trim1(n / 1000)}k`;
  if (abs < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${trim1(n / 1_000_000)}M`;
}

function trim1(n: number): string {
  return n.toFixed(1).replace(/\.0$/, '');
}

/** `850ms`, `41.2s`, `3m12s`, `2h05m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of `width` cells filled to `fraction` (0–1), in eighths. */
export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = PARTIAL[eighths % 8] ?? '';
  return `${'█'.repeat(full)}${part}`.padEnd(width, ' ');
}

function rateOf(value: number, limit: number | undefined, unit: string, compact: boolean): string {
  const f = compact ? formatCompact : formatCount;
  return limit === undefined ? `${f(value)} ${unit}` : `${f(value)}/${f(limit)} ${unit}`;
}

function tail(s: ProgressSnapshot): string[] {
  return [
    `ETA ${s.etaMs === undefined ? '?' : formatDuration(s.etaMs)}`,
    `429s ${formatCount(s.rateLimited)}`,
    `retries ${formatCount(s.retries)}`,
    `failed ${formatCount(s.failed + s.bad + s.notAttempted)}`,
  ];
}

/** The terminal line, at most `columns` wide. */
export function formatBar(s: ProgressSnapshot, columns: number): string {
  const fraction = s.total ? s.done / s.total : 0;
  const percent = s.total === undefined ? '' : `${String(Math.floor(fraction * 100)).padStart(3)}% `;
  const parts = [
    `${percent}${formatCount(s.done)}/${s.total === undefined ? '?' : formatCount(s.total)}`,
    rateOf(s.requestsPerMin, s.rpmLimit, 'rpm', false),
    rateOf(s.tokensPerMin, s.tpmLimit, 'tpm', true),
    ...tail(s),
  ];
  const text = parts.join(' · ');
  const width = Math.max(0, Math.min(24, columns - text.length - 2));
  const line = width >= 8 ? `${bar(fraction, width)} ${text}` : text;
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** One plain progress line (not a terminal). */
export function formatPlain(s: ProgressSnapshot): string {
  const percent = s.total ? ` (${Math.floor((s.done / s.total) * 100)}%)` : '';
  return [
    `sluice batch: ${formatCount(s.done)}/${s.total === undefined ? '?' : formatCount(s.total)} lines${percent}`,
    rateOf(s.requestsPerMin, s.rpmLimit, 'rpm', false),
    rateOf(s.tokensPerMin, s.tpmLimit, 'tpm', false),
    ...tail(s),
  ].join(', ');
}

// ---- reporter ----

export type ProgressMode = 'tty' | 'plain' | 'quiet';

export interface ReporterOptions {
  stream: NodeJS.WritableStream & { columns?: number };
  mode: ProgressMode;
  /** How often a plain line is printed. @default 10000 */
  plainIntervalMs?: number;
  /** How often the terminal bar is redrawn. @default 200 */
  ttyIntervalMs?: number;
}

/** Draws progress while a run goes; `log()` prints a message without breaking the bar. */
export class ProgressReporter {
  readonly #options: ReporterOptions;
  #timer: NodeJS.Timeout | undefined;
  #snapshot: (() => ProgressSnapshot) | undefined;
  #drawn = false;

  constructor(options: ReporterOptions) {
    this.#options = options;
  }

  start(snapshot: () => ProgressSnapshot): void {
    this.#snapshot = snapshot;
    const { mode } = this.#options;
    if (mode === 'quiet') return;
    const every =
      mode === 'tty' ? (this.#options.ttyIntervalMs ?? 200) : (this.#options.plainIntervalMs ?? 10_000);
    this.#timer = setInterval(() => this.#draw(), every);
    this.#timer.unref();
    if (mode === 'tty') this.#draw();
  }

  #draw(): void {
    const s = this.#snapshot?.();
    if (!s) return;
    const out = this.#options.stream;
    if (this.#options.mode === 'tty') {
      out.write(`\r${formatBar(s, out.columns ?? 100)}\x1b[K`);
      this.#drawn = true;
    } else if (this.#options.mode === 'plain') {
      out.write(`${formatPlain(s)}\n`);
    }
  }

  #clear(): void {
    if (this.#drawn) {
      this.#options.stream.write('\r\x1b[K');
      this.#drawn = false;
    }
  }

  /** Prints a message on its own line (warnings, bad lines). Shown even when quiet. */
  log(message: string): void {
    this.#clear();
    this.#options.stream.write(`${message}\n`);
    if (this.#options.mode === 'tty' && this.#timer) this.#draw();
  }

  /** Stops drawing and leaves the terminal on a clean line (the last bar stays visible). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#options.mode === 'tty' && this.#snapshot) {
      this.#draw();
      this.#options.stream.write('\n');
      this.#drawn = false;
    }
  }
}
