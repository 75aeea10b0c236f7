/**
 * Durations as they appear on the wire.
 *
 * OpenAI's `x-ratelimit-reset-*` headers and its "Please try again in …" messages use Go's
 * `time.Duration.String()` rounded to the millisecond: `12ms`, `1s`, `8.64s`, `6m0s`, `4m12.172s`,
 * `23h18m29.144s`. Whole seconds print without a fraction; once minutes or hours appear, the seconds
 * always print (`6m0s`). Both sides of the wire use these helpers: the emulator formats, the engine parses.
 */

/** Formats milliseconds as a Go duration rounded to the millisecond (what OpenAI sends). */
export function formatGoDuration(ms: number): string {
  let total = Math.max(0, Math.round(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  total -= hours * 3_600_000;
  const minutes = Math.floor(total / 60_000);
  total -= minutes * 60_000;
  const seconds = Math.floor(total / 1000);
  const millis = total - seconds * 1000;
  const frac = millis === 0 ? '' : `.${String(millis).padStart(3, '0').replace(/0+$/, '')}`;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${seconds}${frac}s`;
}

/**
 * Parses a Go duration (`4m12.172s`, `12ms`, `1h0m0s`) into milliseconds.
 * Returns `undefined` for anything that is not one (the caller decides what a bad header means).
 *
 * Read on every answer (the reset headers), so it scans characters instead of running expressions: a
 * number (`12`, `1.5`, `1.`, `.5`) then a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), repeated.
 */
export function parseGoDuration(raw: string): number | undefined {
  const text = raw.trim();
  let i = 0;
  const end = text.length;
  if (end === 0) return undefined;
  if (text === '0') return 0;
  let total = 0;
  while (i < end) {
    const numberStart = i;
    const digitsAt = i;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    const whole = i > digitsAt;
    if (i < end && text.charCodeAt(i) === 0x2e) {
      i++;
      const fractionAt = i;
      while (i < end && isDigit(text.charCodeAt(i))) i++;
      if (!whole && i === fractionAt) return undefined;
    } else if (!whole) return undefined;
    const value = Number(text.slice(numberStart, i));
    const unit = unitAt(text, i, end);
    if (unit === undefined) return undefined;
    total += value * unit.ms;
    i += unit.length;
  }
  return total;
}

/** The unit that starts at `i`: its length and milliseconds; `ms` is tried before `m`. */
function unitAt(text: string, i: number, end: number): { length: number; ms: number } | undefined {
  if (i >= end) return undefined;
  const c = text.charCodeAt(i);
  const s = i + 1 < end && text.charCodeAt(i + 1) === 0x73;
  if (c === 0x6d) return s ? MS : MINUTE; // m
  if (c === 0x73) return SECOND; // s
  if (c === 0x68) return HOUR; // h
  if (!s) return undefined;
  if (c === 0x6e) return NS; // ns
  if (c === 0x75 || c === 0xb5 || c === 0x3bc) return US; // us, µs (micro sign), μs (Greek mu)
  return undefined;
}

const NS = { length: 2, ms: 1e-6 };
const US = { length: 2, ms: 1e-3 };
const MS = { length: 2, ms: 1 };
const SECOND = { length: 1, ms: 1000 };
const MINUTE = { length: 1, ms: 60_000 };
const HOUR = { length: 1, ms: 3_600_000 };

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * Parses a human duration from a flag or config file: a Go duration (`90s`, `1m30s`, `250ms`) or a bare
 * number of milliseconds. Returns `undefined` when it is neither.
 */
export function parseHumanDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed);
  return parseGoDuration(trimmed);
}
