/**
 * Kinds of value for option tables (`options.ts`). Each constructor takes the entry's fields (plus the
 * kind's own bounds) and returns the entry, so a table reads `rpm: limit({ default: 500, help: '…' })`.
 * The text forms of durations (`90s`, `1h30m`) and sizes (`512kb`) are read and written here too.
 */
import type { OptionFields, Read, ValueKind } from './options.js';

const BAD: { ok: false } = { ok: false };
const good = <T>(value: T): Read<T> => ({ ok: true, value });

/** An entry of `kind` with `fields` (bounds that only shaped the kind are left in; they are harmless). */
function entry<T, I, const F extends OptionFields<I>>(
  kind: ValueKind<T, I>,
  fields: F,
): F & { kind: ValueKind<T, I> } {
  return { ...fields, kind };
}

/** Bounds of a numeric kind. */
export interface Bounds {
  /** Smallest value accepted. @default 0 */
  readonly min?: number;
  /** Largest value accepted. @default no bound */
  readonly max?: number;
}

function range(min: number, max: number | undefined, unit = ''): string {
  return max === undefined ? `from ${min}${unit} up` : `from ${min}${unit} to ${max}${unit}`;
}

const DIGITS = /^\d+$/;

function wholeKind(min: number, max: number | undefined): ValueKind<number> {
  const ok = (v: unknown): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && (max === undefined || v <= max);
  const expected = `a whole number ${range(min, max)}`;
  return {
    expected,
    expectedText: expected,
    placeholder: 'n',
    read: (v) => (ok(v) ? good(v) : BAD),
    parse: (raw) => {
      const t = raw.trim();
      const v = Number(t);
      return DIGITS.test(t) && ok(v) ? good(v) : BAD;
    },
    show: String,
  };
}

/** A whole number from `min` (default 0) up, to `max` if given. */
export function whole<const F extends OptionFields<number> & Bounds>(fields: F) {
  return entry(wholeKind(fields.min ?? 0, fields.max), fields);
}

/**
 * A limit: a whole number from 0 up where 0 means "no limit" and resolves to `undefined`
 * (`--rpm 0`). Callers pass numbers; the resolved value is `number | undefined`.
 */
export function limit<const F extends OptionFields<number> & { readonly max?: number }>(fields: F) {
  const base = wholeKind(0, fields.max);
  const kind: ValueKind<number | undefined, number> = {
    ...base,
    read: (v) => {
      const r = base.read(v);
      return r.ok && r.value === 0 ? good(undefined) : r;
    },
  };
  return entry(kind, fields);
}

/** Bounds of a decimal number. */
export interface NumberBounds extends Bounds {
  /** Refuse `min` itself (a number *above* it). @default false */
  readonly above?: boolean;
}

function numberKind(min: number, max: number | undefined, above: boolean): ValueKind<number> {
  const ok = (v: unknown): v is number =>
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (above ? v > min : v >= min) &&
    (max === undefined || v <= max);
  const expected = above
    ? `a number above ${min}${max === undefined ? '' : ` and up to ${max}`}`
    : `a number ${range(min, max)}`;
  return {
    expected,
    expectedText: expected,
    placeholder: 'x',
    read: (v) => (ok(v) ? good(v) : BAD),
    parse: (raw) => {
      const v = Number(raw);
      return raw.trim() !== '' && ok(v) ? good(v) : BAD;
    },
    show: String,
  };
}

/** A finite number from `min` (default 0) up, to `max` if given; `above: true` refuses `min` itself. */
export function number<const F extends OptionFields<number> & NumberBounds>(fields: F) {
  return entry(numberKind(fields.min ?? 0, fields.max, fields.above ?? false), fields);
}

/** A finite number above 0 (to `max` if given). */
export function positive<const F extends OptionFields<number> & { readonly max?: number }>(fields: F) {
  return entry(numberKind(0, fields.max, true), fields);
}

/** A probability from 0 to 1. */
export function probability<const F extends OptionFields<number>>(fields: F) {
  const base = numberKind(0, 1, false);
  return entry(
    {
      ...base,
      expected: 'a probability from 0 to 1',
      expectedText: 'a probability from 0 to 1, like 0.05',
      placeholder: 'p',
    },
    fields,
  );
}

/** One of a fixed set of strings. */
export function oneOf<const C extends readonly string[], const F extends OptionFields<C[number]>>(
  choices: C,
  fields: F,
) {
  const expected = `one of ${choices.join(', ')}`;
  const ok = (v: unknown): v is C[number] => typeof v === 'string' && choices.includes(v);
  const kind: ValueKind<C[number]> = {
    expected,
    expectedText: expected,
    placeholder: 'name',
    choices,
    read: (v) => (ok(v) ? good(v) : BAD),
    parse: (raw) => (ok(raw) ? good(raw) : BAD),
    show: String,
  };
  return entry(kind, fields);
}

/** A non-empty list of non-empty strings; on the command line, comma-separated. */
export function list<const F extends OptionFields<readonly string[]> & { readonly items?: string }>(
  fields: F,
) {
  const items = fields.items ?? 'strings';
  const ok = (v: unknown): v is readonly string[] =>
    Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '');
  const kind: ValueKind<readonly string[]> = {
    expected: `a non-empty list of non-empty ${items}`,
    expectedText: `a comma-separated list of ${items}`,
    placeholder: 'list',
    read: (v) => (ok(v) ? good(v) : BAD),
    parse: (raw) => {
      const parts = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      return parts.length > 0 ? good(parts) : BAD;
    },
    show: (v) => v.join(','),
  };
  return entry(kind, fields);
}

/** A switch. With `default: true` its flag is `--no-<name>`; otherwise `--<name>`. */
export function boolean<const F extends OptionFields<boolean>>(fields: F) {
  const kind: ValueKind<boolean> = {
    expected: 'true or false',
    expectedText: 'true or false',
    placeholder: undefined,
    read: (v) => (typeof v === 'boolean' ? good(v) : BAD),
    parse: (raw) => (raw === 'true' ? good(true) : raw === 'false' ? good(false) : BAD),
    show: (v) => (v ? 'on' : 'off'),
  };
  return entry(kind, fields);
}

/** A non-empty string. */
export function text<const F extends OptionFields<string>>(fields: F) {
  const ok = (v: unknown): v is string => typeof v === 'string' && v !== '';
  const kind: ValueKind<string> = {
    expected: 'a non-empty string',
    expectedText: 'a non-empty string',
    placeholder: 'text',
    read: (v) => (ok(v) ? good(v) : BAD),
    parse: (t) => (ok(t) ? good(t) : BAD),
    show: String,
  };
  return entry(kind, fields);
}

/** A library-only value that passes `test` (a clock, a callback); it has no flag. */
export function custom<T, const F extends OptionFields<T> & { readonly expected: string }>(
  test: (value: unknown) => value is T,
  fields: F,
) {
  const kind: ValueKind<T> = {
    expected: fields.expected,
    expectedText: fields.expected,
    placeholder: 'value',
    read: (v) => (test(v) ? good(v) : BAD),
    parse: () => BAD,
    show: () => 'custom',
  };
  return entry(kind, { ...fields, flag: false as const });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/g;

/** `90s` → 90000, `1h30m` → 5400000, `250ms`, `1.5s`, `2d`; `0` alone is 0. `undefined` otherwise. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of t.matchAll(DURATION_PART)) ms += Number(amount) * DURATION_UNITS[unit!]!;
  return ms;
}

/** Milliseconds in the largest units that show them exactly: `90s`, `1h30m`, `250ms`, `1m0.5s` → `60500ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (!Number.isInteger(ms) || ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${unit}`;
    rest -= count * size;
  }
  return out;
}

/** A number with a text form in units (durations, sizes): how it reads, shows and is checked. */
interface UnitText {
  parse(text: string): number | undefined;
  format(value: number): string;
  /** Whether a number is of the kind at all (finite; a whole number), before the bounds. */
  valid(value: number): boolean;
  /** The kind in words, given the bounds' words (`''`, ` of at least 1s`): for library values… */
  expected(bounds: string): string;
  /** …and for command-line text. */
  expectedText(bounds: string): string;
  placeholder: string;
}

/**
 * A kind whose library values are numbers or text in units, and whose command-line text is in units:
 * both within `min` (default 0) and `max`, which messages show in units.
 */
function unitKind(unit: UnitText, { min = 0, max }: Bounds): ValueKind<number, number | string> {
  const inRange = (n: number): boolean => unit.valid(n) && n >= min && (max === undefined || n <= max);
  const bounds =
    min === 0 && max === undefined
      ? ''
      : max === undefined
        ? ` of at least ${unit.format(min)}`
        : ` from ${unit.format(min)} to ${unit.format(max)}`;
  return {
    expected: unit.expected(bounds),
    expectedText: unit.expectedText(bounds),
    placeholder: unit.placeholder,
    read: (v) => {
      const n = typeof v === 'number' ? v : typeof v === 'string' ? unit.parse(v) : undefined;
      return n !== undefined && inRange(n) ? good(n) : BAD;
    },
    parse: (t) => {
      const n = unit.parse(t);
      return n !== undefined && inRange(n) ? good(n) : BAD;
    },
    show: (v) => (typeof v === 'number' ? unit.format(v) : v),
  };
}

const DURATION_TEXT: UnitText = {
  parse: parseDuration,
  format: formatDuration,
  valid: Number.isFinite,
  expected: (bounds) => `a duration${bounds} in milliseconds or as text like 250ms, 90s or 1h30m`,
  expectedText: (bounds) => `a duration${bounds} like 250ms, 90s or 1h30m`,
  placeholder: 'duration',
};

/**
 * A duration. The resolved value is milliseconds; callers pass milliseconds (a number) or text
 * (`'90s'`, `'1h30m'`, `'250ms'`), and the command line takes text with a unit (a bare `0` too).
 */
export function duration<const F extends OptionFields<number | string> & Bounds>(fields: F) {
  return entry(unitKind(DURATION_TEXT, fields), fields);
}

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const BYTES = /^(\d+(?:\.\d+)?|\.\d+)\s*(b|kb|mb|gb)?$/i;

/** `1mb` → 1048576 (units of 1024: b, kb, mb, gb, any case), `512kb`, a bare `1000` is bytes. */
export function parseBytes(text: string): number | undefined {
  const match = BYTES.exec(text.trim());
  if (match === null) return undefined;
  return Math.floor(Number(match[1]) * BYTE_UNITS[(match[2] ?? 'b').toLowerCase()]!);
}

/** Bytes in the largest unit that shows them exactly: `1mb`, `512kb`, `1000`. */
export function formatBytes(bytes: number): string {
  for (const unit of ['gb', 'mb', 'kb'] as const) {
    const size = BYTE_UNITS[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

const BYTES_TEXT: UnitText = {
  parse: parseBytes,
  format: formatBytes,
  valid: Number.isSafeInteger,
  expected: (bounds) => `a size${bounds} in bytes or as text like 512kb or 1mb`,
  expectedText: (bounds) => `a size${bounds} like 512kb, 1mb or 1048576 (bytes)`,
  placeholder: 'size',
};

/** A size in bytes. Callers pass bytes (a whole number) or text (`'1mb'`); so does the command line. */
export function bytes<const F extends OptionFields<number | string> & Bounds>(fields: F) {
  return entry(unitKind(BYTES_TEXT, fields), fields);
}
