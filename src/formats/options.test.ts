import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  defaultsOf,
  describeOptions,
  flagOf,
  OptionError,
  resolveOptions,
  type OptionsInput,
  type OptionTable,
  type ResolvedOptions,
} from './options.js';
import {
  boolean,
  bytes,
  custom,
  duration,
  formatBytes,
  formatDuration,
  limit,
  list,
  number,
  oneOf,
  parseBytes,
  parseDuration,
  positive,
  probability,
  text,
  whole,
} from './option-kinds.js';

const TABLE = {
  /** Requests per minute. @default 500 */
  rpm: limit({ default: 500, help: 'requests per minute; 0 = unlimited' }),
  port: whole({ max: 65_535, expected: 'a port from 0 to 65535', default: 0, help: 'TCP port' }),
  quota: whole({ defaultText: 'unlimited', help: 'requests in all' }),
  burstSeconds: positive({ default: 60, placeholder: 's', help: 'burst' }),
  latencyMs: number({ max: 1000, default: 0, placeholder: 'ms', help: 'delay' }),
  errorRate: probability({ default: 0, help: 'chance of a 500' }),
  flavor: oneOf(['openai', 'azure'] as const, { default: 'openai', help: 'dialect' }),
  keys: list({ items: 'API keys', help: 'accepted keys' }),
  retryAfter: boolean({ default: true, help: 'omit retry-after' }),
  countRejected: boolean({ default: false, help: 'count refusals' }),
  host: text({ default: '127.0.0.1', placeholder: 'host', help: 'interface' }),
  timeoutMs: duration({ min: 1, default: 90_000, help: 'attempt timeout' }),
  maxBody: bytes({ max: 1024 ** 3, default: 1024 ** 2, help: 'largest body' }),
  clock: custom((v): v is { now(): number } => typeof (v as { now?: unknown })?.now === 'function', {
    expected: 'an object with a now() method',
    help: 'time source',
  }),
} satisfies OptionTable;

describe('resolveOptions', () => {
  it('applies defaults; a field without one stays undefined; a limit of 0 resolves to undefined', () => {
    expect(resolveOptions(TABLE)).toEqual({
      rpm: 500,
      port: 0,
      quota: undefined,
      burstSeconds: 60,
      latencyMs: 0,
      errorRate: 0,
      flavor: 'openai',
      keys: undefined,
      retryAfter: true,
      countRejected: false,
      host: '127.0.0.1',
      timeoutMs: 90_000,
      maxBody: 1_048_576,
      clock: undefined,
    });
    expect(resolveOptions(TABLE, { rpm: 0 }).rpm).toBeUndefined();
    expect(resolveOptions(TABLE, { rpm: undefined }).rpm).toBe(500);
    expect(resolveOptions(TABLE, { timeoutMs: '1m30s', maxBody: '2mb' })).toMatchObject({
      timeoutMs: 90_000,
      maxBody: 2 * 1024 ** 2,
    });
  });

  it.each([
    [{ rpm: -1 }, 'Expected `rpm` to be a whole number from 0 up, got -1.'],
    [{ rpm: 1.5 }, 'Expected `rpm` to be a whole number from 0 up, got 1.5.'],
    [{ port: 70_000 }, 'Expected `port` to be a port from 0 to 65535, got 70000.'],
    [{ burstSeconds: 0 }, 'Expected `burstSeconds` to be a number above 0, got 0.'],
    [{ latencyMs: 1001 }, 'Expected `latencyMs` to be a number from 0 to 1000, got 1001.'],
    [{ latencyMs: Number.NaN }, 'Expected `latencyMs` to be a number from 0 to 1000, got NaN.'],
    [{ errorRate: 2 }, 'Expected `errorRate` to be a probability from 0 to 1, got 2.'],
    [{ flavor: 'gemini' }, 'Expected `flavor` to be one of openai, azure, got "gemini".'],
    [{ keys: [] }, 'Expected `keys` to be a non-empty list of non-empty API keys, got [].'],
    [{ keys: ['a', ''] }, 'Expected `keys` to be a non-empty list of non-empty API keys, got ["a",""].'],
    [{ retryAfter: 'no' }, 'Expected `retryAfter` to be true or false, got "no".'],
    [{ host: '' }, 'Expected `host` to be a non-empty string, got "".'],
    [
      { timeoutMs: '90' },
      'Expected `timeoutMs` to be a duration of at least 1ms in milliseconds or as text like 250ms, 90s or 1h30m, got "90".',
    ],
    [
      { maxBody: '2tb' },
      'Expected `maxBody` to be a size from 0 to 1gb in bytes or as text like 512kb or 1mb, got "2tb".',
    ],
    [{ clock: {} }, 'Expected `clock` to be an object with a now() method, got {}.'],
  ])('refuses %j, naming the field', (input, message) => {
    expect(() => resolveOptions(TABLE, input as never)).toThrow(
      new OptionError(Object.keys(input)[0]!, message),
    );
  });

  it('refuses a field the table does not declare, suggesting the closest', () => {
    expect(() => resolveOptions(TABLE, { rmp: 5 } as never)).toThrow(
      'Unknown option `rmp`; did you mean `rpm`?',
    );
    expect(() => resolveOptions(TABLE, { colour: 'red' } as never)).toThrow('Unknown option `colour`.');
    expect(resolveOptions(TABLE, { colour: 'red' } as never, { allowUnknown: true }).rpm).toBe(500);
  });

  it('refuses options that are not an object', () => {
    expect(() => resolveOptions(TABLE, 5 as never)).toThrow('Expected the options to be an object, got 5.');
  });

  it('runs cross-field checks with the caller naming, and throws the caller error class', () => {
    class MyError extends OptionError {}
    const resolve = (label?: (field: string) => string) =>
      resolveOptions(
        TABLE,
        { rpm: 30, burstSeconds: 1 },
        {
          naming: label,
          error: MyError,
          check: (o, fail) => {
            if (o.rpm !== undefined && (o.rpm * o.burstSeconds) / 60 < 1)
              fail('rpm', (name) => `holds less than one request; raise ${name('burstSeconds')}`);
          },
        },
      );
    expect(() => resolve()).toThrow(
      new MyError('rpm', '`rpm`: holds less than one request; raise `burstSeconds`'),
    );
    expect(() => resolve()).toThrow(MyError);
    expect(() => resolve((f) => `--${f}`)).toThrow(
      '--rpm: holds less than one request; raise --burstSeconds',
    );
  });

  it('infers the resolved and input types from the table', () => {
    const o = resolveOptions(TABLE);
    expectTypeOf(o.rpm).toEqualTypeOf<number | undefined>();
    expectTypeOf(o.port).toEqualTypeOf<number>();
    expectTypeOf(o.quota).toEqualTypeOf<number | undefined>();
    expectTypeOf(o.flavor).toEqualTypeOf<'openai' | 'azure'>();
    expectTypeOf(o.keys).toEqualTypeOf<readonly string[] | undefined>();
    expectTypeOf(o.retryAfter).toEqualTypeOf<boolean>();
    expectTypeOf(o.timeoutMs).toEqualTypeOf<number>();
    expectTypeOf<OptionsInput<typeof TABLE>['timeoutMs']>().toEqualTypeOf<number | string | undefined>();
    expectTypeOf<OptionsInput<typeof TABLE>['rpm']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<ResolvedOptions<typeof TABLE>['clock']>().toEqualTypeOf<{ now(): number } | undefined>();
  });
});

describe('defaultsOf', () => {
  it('lists the library defaults of the fields that have one', () => {
    const d = defaultsOf(TABLE);
    expect(d).toEqual({
      rpm: 500,
      port: 0,
      burstSeconds: 60,
      latencyMs: 0,
      errorRate: 0,
      flavor: 'openai',
      retryAfter: true,
      countRejected: false,
      host: '127.0.0.1',
      timeoutMs: 90_000,
      maxBody: 1_048_576,
    });
    expectTypeOf(d).not.toHaveProperty('quota');
  });
});

describe('describeOptions', () => {
  it('derives flags, usage and defaults from the table', () => {
    const rows = Object.fromEntries(describeOptions(TABLE).map((d) => [d.field, d]));
    expect(rows['rpm']).toEqual({
      field: 'rpm',
      flag: '--rpm',
      usage: '--rpm <n>',
      default: '500',
      help: 'requests per minute; 0 = unlimited',
      expected: 'a whole number from 0 up',
    });
    expect(rows['burstSeconds']).toMatchObject({ flag: '--burst-seconds', usage: '--burst-seconds <s>' });
    expect(rows['quota']).toMatchObject({ default: 'unlimited' });
    expect(rows['keys']).toMatchObject({ usage: '--keys <list>', default: 'none' });
    expect(rows['retryAfter']).toMatchObject({
      flag: '--no-retry-after',
      usage: '--no-retry-after',
      default: 'on',
    });
    expect(rows['countRejected']).toMatchObject({ flag: '--count-rejected', default: 'off' });
    expect(rows['timeoutMs']).toMatchObject({ usage: '--timeout-ms <duration>', default: '1m30s' });
    expect(rows['maxBody']).toMatchObject({ usage: '--max-body <size>', default: '1mb' });
    expect(rows['clock']).toMatchObject({ flag: undefined, usage: undefined });
    expect(flagOf('x', whole({ flag: 'why', help: '' }))).toBe('--why');
  });
});

describe('command-line text', () => {
  it.each([
    [TABLE.rpm, '12', 12],
    [TABLE.rpm, ' 7 ', 7],
    [TABLE.latencyMs, '2.5', 2.5],
    [TABLE.errorRate, '.05', 0.05],
    [TABLE.flavor, 'azure', 'azure'],
    [TABLE.keys, 'a, b,,c', ['a', 'b', 'c']],
    [TABLE.timeoutMs, '250ms', 250],
    [TABLE.maxBody, '512KB', 512 * 1024],
  ])('%#: reads %j', (spec, raw, value) => {
    expect(spec.kind.parse(raw)).toEqual({ ok: true, value });
  });

  it.each([
    [TABLE.rpm, 'lots'],
    [TABLE.rpm, '1e3'],
    [TABLE.rpm, '-1'],
    [TABLE.port, '70000'],
    [TABLE.latencyMs, ''],
    [TABLE.latencyMs, '1001'],
    [TABLE.errorRate, '1.5'],
    [TABLE.flavor, 'gemini'],
    [TABLE.keys, ' , '],
    [TABLE.timeoutMs, '90'],
    [TABLE.timeoutMs, '0'],
  ])('%#: refuses %j', (spec, raw) => {
    expect(spec.kind.parse(raw)).toEqual({ ok: false });
  });
});

describe('durations and sizes', () => {
  it('parses and formats durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('90')).toBeUndefined();
    expect(parseDuration('s')).toBeUndefined();
    expect(parseDuration('5 m')).toBeUndefined();
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(0)).toBe('0');
    for (const ms of [1, 999, 1000, 61_000, 3_600_000, 90_061_000])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it('parses and formats sizes in units of 1024', () => {
    expect(parseBytes('1mb')).toBe(1_048_576);
    expect(parseBytes('1.5 KB')).toBe(1536);
    expect(parseBytes('1000')).toBe(1000);
    expect(parseBytes('1tb')).toBeUndefined();
    expect(parseBytes('-1')).toBeUndefined();
    expect(formatBytes(1_048_576)).toBe('1mb');
    expect(formatBytes(1536)).toBe('1536');
    expect(formatBytes(1000)).toBe('1000');
  });
});
