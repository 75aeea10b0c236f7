/**
 * Options declared once. A command's options are one table — per field: its kind of value, default,
 * help line and flag — and the library, the command line and the docs all read that table:
 *
 * - {@link resolveOptions} applies the defaults and validates a library options object, naming the
 *   field in every message (``Expected `rpm` to be a whole number from 0 up, got -1.``);
 * - `src/cli/options.ts` builds the commander options from the same table and parses flags with
 *   messages naming the flag (`--rpm: expected a whole number from 0 up, got "x"`);
 * - {@link describeOptions} lists flag, field, default and help for help screens and docs checks.
 *
 * The types follow the table: {@link ResolvedOptions} and {@link OptionsInput} are inferred from it, and
 * the JSDoc written on a table entry is the JSDoc of the options field. The kinds of value a table is
 * built from (`whole`, `limit`, `duration`, …) are in `option-kinds.ts`. Pure: imports nothing.
 *
 * @example
 * import { duration, limit } from './option-kinds.js';
 * const TABLE = {
 *   // Requests per minute; 0 means unlimited. @default 500
 *   rpm: limit({ default: 500, help: 'requests per minute; 0 = unlimited' }),
 *   timeoutMs: duration({ default: 90_000, help: 'give up on an attempt after this long' }),
 * } satisfies OptionTable;
 * type Options = OptionsInput<typeof TABLE>; // { rpm?: number; timeoutMs?: number | string }
 * const o = resolveOptions(TABLE, { rpm: 60 }); // { rpm: 60, timeoutMs: 90000 }
 */

/** The outcome of reading one value. */
export type Read<T> = { ok: true; value: T } | { ok: false };

/**
 * A kind of value: how a library value is checked, how command-line text is read, how a value is shown.
 * `T` is the resolved value, `I` what callers pass (usually the same; a duration takes `90000` or `'90s'`).
 */
export interface ValueKind<T, I = T> {
  /** A valid value in words, completing "expected …": `a whole number from 0 up`. */
  readonly expected: string;
  /** The same for command-line text, where it reads differently (`a comma-separated list of …`). */
  readonly expectedText: string;
  /** Argument placeholder, `n` in `--rpm <n>`; `undefined` for a switch, which takes no argument. */
  readonly placeholder: string | undefined;
  /** Checks a library value and turns it into the resolved one. */
  read(value: unknown): Read<T>;
  /** Reads command-line text into a library value (which {@link read} accepts). */
  parse(text: string): Read<I>;
  /** A library value as help and docs show it. */
  show(value: I): string;
  /** The values an enum accepts, for help screens. */
  readonly choices?: readonly string[];
}

/** What every table entry says besides its kind. */
export interface OptionFields<I> {
  /** One line for `--help` and the docs; the default is appended there. */
  readonly help: string;
  /** The default, as a library value. Without one the option resolves to `undefined` unless given. */
  readonly default?: I;
  /** How the default reads where the value alone would mislead: `unlimited`, `off`, `Date.now`. */
  readonly defaultText?: string;
  /**
   * The flag's name without dashes when it is not the field in kebab-case (`burstSeconds` →
   * `--burst-seconds`); `false` for a library-only option (a clock, a callback).
   */
  readonly flag?: string | false;
  /** Argument placeholder in help, `ms` in `--latency-ms <ms>`. @default the kind's */
  readonly placeholder?: string;
  /** Replaces the kind's words in messages: `a port from 0 to 65535`. */
  readonly expected?: string;
}

/** One table entry. */
export type OptionSpec<T = unknown, I = T> = OptionFields<I> & { readonly kind: ValueKind<T, I> };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a table mixes entries of every kind
type AnySpec = OptionSpec<any, any>;

/** A command's options: field name → entry. */
export type OptionTable = { readonly [field: string]: AnySpec };

type ValueOf<S> = S extends { readonly kind: ValueKind<infer T, infer _I> } ? T : never;
type InputOf<S> = S extends { readonly kind: ValueKind<infer _T, infer I> } ? I : never;
type HasDefault<S> = S extends { readonly default: unknown } ? true : false;

/** The options object callers pass: every field optional, `undefined` meaning "the default". */
export type OptionsInput<Tb extends OptionTable> = { [K in keyof Tb]?: InputOf<Tb[K]> | undefined };

/** The options after {@link resolveOptions}: a field with a default is always set. */
export type ResolvedOptions<Tb extends OptionTable> = {
  -readonly [K in keyof Tb]: HasDefault<Tb[K]> extends true ? ValueOf<Tb[K]> : ValueOf<Tb[K]> | undefined;
};

/** The defaults of a table, as library values, for fields that have one. */
export type OptionDefaults<Tb extends OptionTable> = {
  -readonly [K in keyof Tb as HasDefault<Tb[K]> extends true ? K : never]: InputOf<Tb[K]>;
};

/** A bad option value. `option` is the field name; the message names it as the caller asked. */
export class OptionError extends RangeError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'OptionError';
  }
}

/** How messages name options: the field for the library, the flag for the command line. */
export interface OptionNaming {
  /** The option as messages name it: `` `rpm` `` or `--rpm`. */
  name(field: string): string;
  /** The message for a value of the wrong kind. `got` is the value (or the command-line text). */
  invalid(field: string, expected: string, got: unknown): string;
}

/** Shows a value in a message: strings quoted, long structures shortened. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (value !== null && typeof value === 'object') {
    let text: string;
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  }
  return String(value);
}

/** The library's naming: ``Expected `rpm` to be a whole number from 0 up, got -1.`` */
export const FIELD_NAMING: OptionNaming = {
  name: (field) => `\`${field}\``,
  invalid: (field, expected, got) => `Expected \`${field}\` to be ${expected}, got ${showValue(got)}.`,
};

/** A naming from a plain label function: `label(field): expected …, got …`. */
export function namingFromLabel(label: (field: string) => string): OptionNaming {
  return {
    name: label,
    invalid: (field, expected, got) => `${label(field)}: expected ${expected}, got ${showValue(got)}`,
  };
}

/**
 * Reports a problem that involves more than one value. `message` receives the naming's `name`, so a
 * message can point at another option in the caller's terms ("raise --burst-seconds").
 */
export type OptionFail<F extends string> = (
  field: F,
  message: (name: (field: F) => string) => string,
) => never;

export interface ResolveSettings<Tb extends OptionTable> {
  /** How messages name options. @default FIELD_NAMING */
  naming?: OptionNaming | ((field: string) => string) | undefined;
  /** Checks across fields, run after each value passed its own. */
  check?: ((options: ResolvedOptions<Tb>, fail: OptionFail<keyof Tb & string>) => void) | undefined;
  /** Builds the error thrown. @default OptionError */
  error?: (new (option: string, message: string) => Error) | undefined;
  /** Accept fields the table does not declare (ignored) instead of refusing them. @default false */
  allowUnknown?: boolean | undefined;
}

/**
 * Applies the defaults of `table` to `input` and checks every value. Throws (an {@link OptionError}
 * unless `settings.error` says otherwise) on the first bad value, on a field the table does not know
 * (naming the closest one), and on a failed cross-field check.
 */
export function resolveOptions<Tb extends OptionTable>(
  table: Tb,
  input: OptionsInput<Tb> | undefined = {},
  settings: ResolveSettings<Tb> = {},
): ResolvedOptions<Tb> {
  const naming =
    typeof settings.naming === 'function'
      ? namingFromLabel(settings.naming)
      : (settings.naming ?? FIELD_NAMING);
  const ErrorClass = settings.error ?? OptionError;
  const fail = (field: string, message: string): never => {
    throw new ErrorClass(field, message);
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ErrorClass('', `Expected the options to be an object, got ${showValue(input)}.`);
  }
  const given = input as Record<string, unknown>;
  if (settings.allowUnknown !== true) {
    for (const field of Object.keys(given)) {
      if (Object.hasOwn(table, field) || given[field] === undefined) continue;
      const near = closest(field, Object.keys(table));
      fail(
        field,
        `Unknown option ${naming.name(field)}` +
          (near === undefined ? '.' : `; did you mean ${naming.name(near)}?`),
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(table)) {
    const spec = table[field]!;
    const value = given[field] ?? spec.default;
    if (value === undefined) {
      out[field] = undefined;
      continue;
    }
    const read = spec.kind.read(value);
    if (!read.ok) fail(field, naming.invalid(field, spec.expected ?? spec.kind.expected, value));
    else out[field] = read.value;
  }
  const resolved = out as ResolvedOptions<Tb>;
  settings.check?.(resolved, (field, message) =>
    fail(field, `${naming.name(field)}: ${message((f) => naming.name(f))}`),
  );
  return resolved;
}

/** The defaults of `table` (library values), for fields that have one. */
export function defaultsOf<Tb extends OptionTable>(table: Tb): OptionDefaults<Tb> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(table)) {
    if (spec.default !== undefined) out[field] = spec.default;
  }
  return out as OptionDefaults<Tb>;
}

/** `burstSeconds` → `burst-seconds`. */
export function kebabCase(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The flag of an entry, dashes included, without its argument: `--rpm`; `--no-retry-after` for a switch
 * whose default is on; `undefined` for a library-only option.
 */
export function flagOf(field: string, spec: AnySpec): string | undefined {
  if (spec.flag === false) return undefined;
  const name = spec.flag ?? kebabCase(field);
  return spec.kind.placeholder === undefined && spec.default === true ? `--no-${name}` : `--${name}`;
}

/** One option as help screens and docs list it. */
export interface OptionDescription {
  field: string;
  /** `--rpm`, `--no-retry-after`; `undefined` for a library-only option. */
  flag: string | undefined;
  /** The flag with its argument, as help prints it: `--rpm <n>`. */
  usage: string | undefined;
  /** The default in words: `500`, `openai`, `unlimited`; `none` when there is none. */
  default: string;
  help: string;
  /** Words for a valid value: `a whole number from 0 up`. */
  expected: string;
}

/** Every entry of `table`, in table order, as help screens and docs list them. */
export function describeOptions(table: OptionTable): OptionDescription[] {
  return Object.entries(table).map(([field, spec]) => {
    const flag = flagOf(field, spec);
    const placeholder = spec.placeholder ?? spec.kind.placeholder;
    const shown =
      spec.defaultText ??
      (spec.default === undefined
        ? 'none'
        : spec.kind.placeholder === undefined
          ? spec.default === true
            ? 'on'
            : 'off'
          : spec.kind.show(spec.default));
    return {
      field,
      flag,
      usage: flag === undefined || placeholder === undefined ? flag : `${flag} <${placeholder}>`,
      default: shown,
      help: spec.help,
      expected: spec.expected ?? spec.kind.expected,
    };
  });
}

/** The closest name within edit distance 2, or `undefined`. */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of names) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

/** Levenshtein distance (names are short). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = row;
  }
  return previous[b.length]!;
}
