/**
 * An option table (`src/formats/options.ts`) on the command line: one commander option per entry, the
 * flag derived from the field (`burstSeconds` → `--burst-seconds`), the default in the help line, and
 * the typed text read back into the library's options object with messages naming the flag.
 *
 * Flags the user did not give are left out of that object, so the table's defaults apply exactly as
 * they do for library callers: one place says what the default is.
 *
 * @example
 * const cmd = program.command('mock');
 * addOptions(cmd, MOCK_OPTIONS);
 * cmd.action(() => {
 *   const { input, options } = resolveFlags(cmd, MOCK_OPTIONS);
 *   // input: only what was typed, for the library; options: resolved, defaults applied
 * });
 */
import { Option, type Command } from 'commander';
import {
  describeOptions,
  flagOf,
  OptionError,
  resolveOptions,
  showValue,
  type OptionNaming,
  type OptionsInput,
  type OptionTable,
  type ResolvedOptions,
} from '../formats/options.js';

/** The help line of an entry: its help, then its choices and default. */
function description(
  help: string,
  choices: readonly string[] | undefined,
  shown: string | undefined,
): string {
  const extra: string[] = [];
  if (choices !== undefined) extra.push(`one of ${choices.join(', ')}`);
  if (shown !== undefined) extra.push(`default: ${shown}`);
  return extra.length === 0 ? help : `${help} (${extra.join('; ')})`;
}

/** One commander option per entry of `table` that has a flag, in table order. */
export function commanderOptions(table: OptionTable): Option[] {
  const out: Option[] = [];
  for (const d of describeOptions(table)) {
    if (d.usage === undefined) continue;
    const spec = table[d.field]!;
    const isSwitch = spec.kind.placeholder === undefined;
    const hasDefault = spec.default !== undefined || spec.defaultText !== undefined;
    // A switch says what it does; its default is the state without it.
    out.push(
      new Option(
        d.usage,
        description(d.help, spec.kind.choices, isSwitch || !hasDefault ? undefined : d.default),
      ),
    );
  }
  return out;
}

/** Adds the options of `table` to `command`; returns `command`. */
export function addOptions(command: Command, table: OptionTable): Command {
  for (const option of commanderOptions(table)) command.addOption(option);
  return command;
}

/** Messages that name flags: `--rpm: expected a whole number from 0 up, got "x"`. */
export function flagNaming(table: OptionTable): OptionNaming {
  const name = (field: string): string => {
    const spec = table[field];
    return (spec === undefined ? undefined : flagOf(field, spec)) ?? field;
  };
  return {
    name,
    invalid: (field, expected, got) => `${name(field)}: expected ${expected}, got ${showValue(got)}`,
  };
}

/**
 * The library options object from the flags the user gave on `command` (after commander has parsed
 * them): each argument read by its entry's kind. Flags not given are absent. Throws an
 * {@link OptionError} naming the flag for text its kind refuses.
 */
export function optionsFromFlags<Tb extends OptionTable>(command: Command, table: Tb): OptionsInput<Tb> {
  const input: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(table)) {
    const flag = flagOf(field, spec);
    if (flag === undefined) continue;
    const option = command.options.find((o) => o.long === flag);
    if (option === undefined) continue;
    const key = option.attributeName();
    const source = command.getOptionValueSource(key);
    if (source !== 'cli' && source !== 'env') continue;
    const value: unknown = command.getOptionValue(key);
    if (spec.kind.placeholder === undefined) {
      input[field] = value === true;
      continue;
    }
    const read = spec.kind.parse(String(value));
    if (!read.ok) {
      throw new OptionError(
        field,
        `${flag}: expected ${spec.expected ?? spec.kind.expectedText}, got ${showValue(String(value))}`,
      );
    }
    input[field] = read.value;
  }
  return input as OptionsInput<Tb>;
}

/**
 * Reads the flags of `command` ({@link optionsFromFlags}) and resolves them (by default with
 * `resolveOptions` and {@link flagNaming}; pass `resolve` to add cross-field checks). A bad value is a
 * usage error: `error: <message>` on stderr and exit status 2, through `command.error`.
 *
 * @returns `input`, only what the user typed (hand it to the library, which applies the same defaults),
 *   and `options`, the resolved values (for printing what will run).
 */
export function resolveFlags<Tb extends OptionTable, R = ResolvedOptions<Tb>>(
  command: Command,
  table: Tb,
  resolve: (input: OptionsInput<Tb>, naming: OptionNaming) => R = (input, naming) =>
    resolveOptions(table, input, { naming }) as R,
): { input: OptionsInput<Tb>; options: R } {
  try {
    const input = optionsFromFlags(command, table);
    return { input, options: resolve(input, flagNaming(table)) };
  } catch (err) {
    if (err instanceof OptionError) {
      command.error(`error: ${err.message}`, { exitCode: 2, code: 'sluice.invalidOption' });
    }
    throw err;
  }
}
