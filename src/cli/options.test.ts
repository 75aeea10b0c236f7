import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { resolveOptions, type OptionTable } from '../formats/options.js';
import { boolean, duration, limit, list, oneOf, positive, whole } from '../formats/option-kinds.js';
import { addOptions, commanderOptions, flagNaming, optionsFromFlags, resolveFlags } from './options.js';

const TABLE = {
  rpm: limit({ default: 500, help: 'requests per minute; 0 = unlimited' }),
  burstSeconds: positive({ default: 60, placeholder: 's', help: 'burst' }),
  quota: whole({ defaultText: 'unlimited', help: 'requests in all' }),
  flavor: oneOf(['openai', 'azure'] as const, { default: 'openai', help: 'dialect' }),
  keys: list({ items: 'API keys', help: 'accepted keys' }),
  retryAfter: boolean({ default: true, help: 'omit retry-after' }),
  countRejected: boolean({ default: false, help: 'count refusals' }),
  timeoutMs: duration({ default: 90_000, flag: 'timeout', help: 'attempt timeout' }),
  secret: whole({ flag: false, help: 'library only' }),
} satisfies OptionTable;

interface Run {
  input?: unknown;
  options?: unknown;
  error?: CommanderError;
  stderr: string;
}

/** A command with the table's options whose action records what it resolved; errors throw. */
function run(args: string[]): Run {
  const errors: string[] = [];
  const cmd = new Command('x').exitOverride().configureOutput({ writeErr: (s) => errors.push(s) });
  addOptions(cmd, TABLE);
  const out: Run = { stderr: '' };
  cmd.action(() => {
    const { input, options } = resolveFlags(cmd, TABLE, (given, naming) =>
      resolveOptions(TABLE, given, {
        naming,
        check: (o, fail) => {
          if (o.rpm !== undefined && (o.rpm * o.burstSeconds) / 60 < 1)
            fail('rpm', (name) => `holds less than one request; raise ${name('burstSeconds')}`);
        },
      }),
    );
    out.input = input;
    out.options = options;
  });
  try {
    cmd.parse(args, { from: 'user' });
  } catch (err) {
    out.error = err as CommanderError;
  }
  out.stderr = errors.join('');
  return out;
}

describe('commander options from a table', () => {
  it('derives flags and help lines with choices and defaults; library-only entries have no flag', () => {
    const lines = commanderOptions(TABLE).map((o) => [o.flags, o.description]);
    expect(lines).toEqual([
      ['--rpm <n>', 'requests per minute; 0 = unlimited (default: 500)'],
      ['--burst-seconds <s>', 'burst (default: 60)'],
      ['--quota <n>', 'requests in all (default: unlimited)'],
      ['--flavor <name>', 'dialect (one of openai, azure; default: openai)'],
      ['--keys <list>', 'accepted keys'],
      ['--no-retry-after', 'omit retry-after'],
      ['--count-rejected', 'count refusals'],
      ['--timeout <duration>', 'attempt timeout (default: 1m30s)'],
    ]);
  });

  it('hands the library only what was typed, read by kind', () => {
    const r = run([
      '--rpm',
      '60',
      '--keys',
      'a,b',
      '--no-retry-after',
      '--count-rejected',
      '--timeout',
      '5s',
    ]);
    expect(r.input).toEqual({
      rpm: 60,
      keys: ['a', 'b'],
      retryAfter: false,
      countRejected: true,
      timeoutMs: 5000,
    });
    expect(r.options).toMatchObject({ rpm: 60, burstSeconds: 60, flavor: 'openai', retryAfter: false });
    expect(run([]).input).toEqual({});
    expect(run(['--rpm', '0']).options).toMatchObject({ rpm: undefined });
  });

  it.each([
    [['--rpm', 'x'], 'error: --rpm: expected a whole number from 0 up, got "x"'],
    [['--burst-seconds', '0'], 'error: --burst-seconds: expected a number above 0, got "0"'],
    [['--flavor', 'gemini'], 'error: --flavor: expected one of openai, azure, got "gemini"'],
    [['--keys', ','], 'error: --keys: expected a comma-separated list of API keys, got ","'],
    [['--timeout', '90'], 'error: --timeout: expected a duration like 250ms, 90s or 1h30m, got "90"'],
    [
      ['--rpm', '30', '--burst-seconds', '1'],
      'error: --rpm: holds less than one request; raise --burst-seconds',
    ],
  ])('refuses %j with exit status 2 and a message naming the flag', (args, message) => {
    const r = run(args);
    expect(r.error).toBeInstanceOf(CommanderError);
    expect(r.error).toMatchObject({ exitCode: 2, code: 'sluice.invalidOption' });
    expect(r.stderr).toBe(`${message}\n`);
  });

  it('names flags in messages, the --no- form for a switch that is on by default', () => {
    const naming = flagNaming(TABLE);
    expect(naming.name('burstSeconds')).toBe('--burst-seconds');
    expect(naming.name('retryAfter')).toBe('--no-retry-after');
    expect(naming.name('timeoutMs')).toBe('--timeout');
    expect(naming.name('secret')).toBe('secret');
    expect(naming.invalid('rpm', 'a whole number from 0 up', 'x')).toBe(
      '--rpm: expected a whole number from 0 up, got "x"',
    );
  });

  it('reads nothing for a flag the command does not have', () => {
    const cmd = new Command('y');
    cmd.parse([], { from: 'user' });
    expect(optionsFromFlags(cmd, TABLE)).toEqual({});
  });
});
