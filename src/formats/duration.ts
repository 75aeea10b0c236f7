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

const GO_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const GO_DURATION = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go duration (`4m12.172s`, `12ms`, `1h0m0s`) into milliseconds.
 * Returns `undefined` for anything that is not one (the caller decides what a bad header means).
 */
export function parseGoDuration(text: string): number | undefined {
  let rest = text.trim();
  if (rest === '') return undefined;
  if (rest === '0') return 0;
  let total = 0;
  while (rest.length > 0) {
    const match = GO_DURATION.exec(rest);
    if (!match) return undefined;
    const token = match[0];
    const unit = /(?:ns|us|µs|μs|ms|s|m|h)$/.exec(token)![0];
    const value = Number(token.slice(0, token.length - unit.length));
    total += value * GO_UNIT_MS[unit]!;
    rest = rest.slice(token.length);
  }
  return total;
}

/**
 * Parses a human duration from a flag or config file: a Go duration (`90s`, `1m30s`, `250ms`) or a bare
 * number of milliseconds. Returns `undefined` when it is neither.
 */
export function parseHumanDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed);
  return parseGoDuration(trimmed);
}
