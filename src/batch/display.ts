/**
 * Drawing progress: pure formatting of a bar and a plain line from a snapshot, and a reporter that draws
 * them on a terminal (redrawn in place), as periodic lines (not a terminal), or not at all (`--quiet`).
 */
import type { ProgressSnapshot } from './progress.js';

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
    `${percent}${formatCount(s.done)}/${s.total === undefined ? (s.streaming ? '? (pipe)' : '?') : formatCount(s.total)}`,
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
    `sluice batch: ${formatCount(s.done)}/${s.total === undefined ? '?' : formatCount(s.total)} lines${percent}${s.total === undefined && s.streaming ? ' (reading a pipe: total unknown)' : ''}`,
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
