import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MOCK_DEFAULTS, MOCK_OPTIONS, MockOptionError, resolveMockOptions } from './options.js';

describe('resolveMockOptions', () => {
  it('applies the defaults; 0 limits mean no bucket', () => {
    const o = resolveMockOptions();
    expect(o).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      flavor: 'openai',
      rpm: MOCK_DEFAULTS.rpm,
      tpm: MOCK_DEFAULTS.tpm,
      rpd: undefined,
      tpd: undefined,
      burstSeconds: 60,
      defaultMaxTokens: 16,
      settle: 'admission',
      retryAfter: true,
      retryAfterMs: true,
      keys: undefined,
    });
    expect(typeof o.clock.now()).toBe('number');
    expect(resolveMockOptions({ rpm: 0 }).rpm).toBeUndefined();
  });

  it.each([
    [{ rpm: -1 }, 'Expected `rpm` to be a whole number from 0 up, got -1.'],
    [{ tpm: 1.5 }, 'Expected `tpm` to be a whole number from 0 up, got 1.5.'],
    [{ burstSeconds: 0 }, 'Expected `burstSeconds` to be a number above 0, got 0.'],
    [{ errorRate: 2 }, 'Expected `errorRate` to be a probability from 0 to 1, got 2.'],
    [{ flavor: 'gemini' }, 'Expected `flavor` to be one of openai, azure, anthropic, got "gemini".'],
    [
      { rpm: 30, burstSeconds: 1 },
      '`rpm`: 30 requests per minute with a burst of 1s holds less than one request; raise `burstSeconds` to at least 2',
    ],
    [{ itpm: 10 }, '`itpm`: input-token limits exist only with the anthropic flavor (got openai)'],
    [{ keys: [] }, 'Expected `keys` to be a non-empty list of non-empty API keys, got [].'],
    [{ port: 70_000 }, 'Expected `port` to be a port from 0 to 65535, got 70000.'],
    [{ slowDownFactor: 0.5 }, 'Expected `slowDownFactor` to be a growth factor of at least 1, got 0.5.'],
  ])('rejects %j', (options, message) => {
    expect(() => resolveMockOptions(options as never)).toThrow(
      new MockOptionError(Object.keys(options)[0] as never, message),
    );
  });

  it('names options the way the caller asks', () => {
    expect(() => resolveMockOptions({ latencyMs: -5 }, (o) => `--${o}`)).toThrow(
      '--latencyMs: expected a number of milliseconds from 0 to 2147483647 (about 24.8 days, the longest timer Node.js allows), got -5',
    );
  });
});

describe('MOCK_OPTIONS', () => {
  it('refuses an option it does not know, naming the closest', () => {
    expect(() => resolveMockOptions({ rmp: 5 } as never)).toThrow(
      new MockOptionError('rmp', 'Unknown option `rmp`; did you mean `rpm`?'),
    );
  });

  it('MOCK_DEFAULTS are the table defaults', () => {
    for (const [field, spec] of Object.entries(MOCK_OPTIONS)) {
      expect(MOCK_DEFAULTS[field as keyof typeof MOCK_DEFAULTS], field).toBe(
        (spec as { default?: unknown }).default,
      );
    }
  });

  it("every entry's JSDoc @default says the entry's default", () => {
    const source = readFileSync(new URL('./options.ts', import.meta.url), 'utf8');
    for (const [field, spec] of Object.entries(MOCK_OPTIONS)) {
      const at = source.indexOf(`\n  ${field}: `);
      expect(at, field).toBeGreaterThan(-1);
      const doc = source.slice(source.lastIndexOf('/**', at), at);
      const stated = /@default (.+?)\s*(?:\*\/|\n)/.exec(doc)?.[1]?.replace(/^'(.*)'$/, '$1');
      const s = spec as { default?: unknown; defaultText?: string };
      expect([String(s.default), s.defaultText], field).toContain(stated);
    }
  });
});
