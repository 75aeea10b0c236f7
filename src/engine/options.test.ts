import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import { SluiceError } from './errors.js';
import { MemoryStore } from './memory-store.js';
import { ENGINE_DEFAULTS, resolveOptions, type EngineOptions } from './options.js';
import { isMilliseconds } from './validate.js';

function refusal(options: EngineOptions): SluiceError {
  try {
    new Engine(options);
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('invalid_option');
    return err as SluiceError;
  }
  throw new Error(`new Engine(${JSON.stringify(options)}) was accepted`);
}

describe('engine options are checked when the engine is built', () => {
  it('retry: { maxAttempts: 0 } is refused (was accepted silently, and meant one attempt)', () => {
    expect(refusal({ retry: { maxAttempts: 0 } }).message).toBe(
      'Expected `retry.maxAttempts` to be a whole number from 1 up, got 0.',
    );
  });

  it('maxWaitMs: -1 is refused (was accepted silently, while the header refuses -5)', () => {
    expect(refusal({ maxWaitMs: -1 }).message).toBe(
      'Expected `maxWaitMs` to be milliseconds ≥ 0 (or Infinity), got -1.',
    );
  });

  it.each<[EngineOptions, string]>([
    [
      { retry: { maxAttempts: 2.5 } },
      'Expected `retry.maxAttempts` to be a whole number from 1 up, got 2.5.',
    ],
    [
      { retry: { baseDelayMs: -1 } },
      'Expected `retry.baseDelayMs` to be a finite number of milliseconds ≥ 0, got -1.',
    ],
    [
      { retry: { baseDelayMs: Infinity } },
      'Expected `retry.baseDelayMs` to be a finite number of milliseconds ≥ 0, got Infinity.',
    ],
    [
      { retry: { maxDelayMs: Number.NaN } },
      'Expected `retry.maxDelayMs` to be milliseconds ≥ 0 (or Infinity), got NaN.',
    ],
    [
      { retry: { maxElapsedMs: -5 } },
      'Expected `retry.maxElapsedMs` to be milliseconds ≥ 0 (or Infinity), got -5.',
    ],
    [{ retry: 5 as never }, 'Expected `retry` to be an object, got 5.'],
    [{ maxQueue: 0 }, 'Expected `maxQueue` to be a whole number from 1 up (or Infinity), got 0.'],
    [{ maxQueue: 1.5 }, 'Expected `maxQueue` to be a whole number from 1 up (or Infinity), got 1.5.'],
    [
      { maxRateLimitRetries: -1 },
      'Expected `maxRateLimitRetries` to be a whole number from 0 up (or Infinity), got -1.',
    ],
    [{ maxWaitMs: '500' as never }, 'Expected `maxWaitMs` to be milliseconds ≥ 0 (or Infinity), got "500".'],
    [
      { quotaProbeIntervalMs: Infinity },
      'Expected `quotaProbeIntervalMs` to be a finite number of milliseconds ≥ 0, got Infinity.',
    ],
    [
      { safetyMarginMs: -100 },
      'Expected `safetyMarginMs` to be a finite number of milliseconds ≥ 0, got -100.',
    ],
    [
      { typicalCompletionTokens: 0 },
      'Expected `typicalCompletionTokens` to be a finite number above 0, got 0.',
    ],
    [
      { settlement: 'always' as never },
      'Expected `settlement` to be one of "auto", "usage", "none", got "always".',
    ],
    [{ learnLimits: 'yes' as never }, 'Expected `learnLimits` to be true or false, got "yes".'],
    [{ random: 0.5 as never }, 'Expected `random` to be a function, got 0.5.'],
    [{ onEvent: {} as never }, 'Expected `onEvent` to be a function, got an object.'],
    [
      { clock: { now: () => 0 } as never },
      'Expected `clock` to have the methods now, sleep; sleep is missing.',
    ],
    [
      { store: {} as never },
      'Expected `store` to have the methods reserve, adjust, raise, cooldown, snapshot, clear; reserve, adjust, raise, cooldown, snapshot, clear are missing.',
    ],
    [{ limits: { rpm: 0 } }, 'Expected `limits.rpm` to be a finite number above 0, got 0.'],
    [{ limits: { tpm: -1 } }, 'Expected `limits.tpm` to be a finite number above 0, got -1.'],
    [{ limits: { rpd: Infinity } }, 'Expected `limits.rpd` to be a finite number above 0, got Infinity.'],
    [{ limits: { tpd: Number.NaN } }, 'Expected `limits.tpd` to be a finite number above 0, got NaN.'],
    [
      { limits: { maxConcurrency: 0.5 } },
      'Expected `limits.maxConcurrency` to be a whole number from 1 up, got 0.5.',
    ],
    [{ limits: { burstMs: 0 } }, 'Expected `limits.burstMs` to be a number above 0 (or Infinity), got 0.'],
    [{ limits: 60 as never }, 'Expected `limits` to be an object, got 60.'],
  ])('refuses %o: %s', (options, message) => {
    expect(refusal(options).message).toBe(message);
  });

  it('accepts every documented value, Infinity where it means "no bound", and fields it does not know', () => {
    expect(
      () =>
        new Engine({
          limits: { rpm: 0.5, tpm: 1000, rpd: 10, tpd: 1e6, maxConcurrency: 1, burstMs: Infinity },
          learnLimits: false,
          store: new MemoryStore(),
          clock: new ManualClock(),
          random: () => 0,
          retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: Infinity, maxElapsedMs: Infinity },
          maxQueue: Infinity,
          maxRateLimitRetries: 0,
          maxWaitMs: 0,
          quotaProbeIntervalMs: 0,
          safetyMarginMs: 0,
          typicalCompletionTokens: 0.5,
          settlement: 'none',
          onEvent: () => {},
          // A shell's own options pass through untouched (createFetch hands its whole options object on).
          ...({ fetch: globalThis.fetch, errors: 'throw' } as object),
        }),
    ).not.toThrow();
    expect(() => new Engine({ maxWaitMs: Infinity, maxRateLimitRetries: Infinity })).not.toThrow();
  });

  it('checks per-lane limits when the lane is first met, naming the lane', async () => {
    const engine = new Engine({ clock: new ManualClock(), limits: () => ({ rpm: -3 }) });
    const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
    const cost = { promptTokens: 1, completionTokens: 0, n: 1, maxGiven: true };
    await expect(
      engine.execute({ lane, cost }, async () => ({ status: 200, headers: {}, value: null })),
    ).rejects.toThrow('Expected `limits(http://up|k|m).rpm` to be a finite number above 0, got -3.');
  });

  it('fills every default from ENGINE_DEFAULTS, and a field left undefined keeps its default', () => {
    const resolved = resolveOptions({ retry: { maxAttempts: undefined as never, baseDelayMs: 10 } });
    const { store, limits, ...rest } = resolved;
    expect(store).toBeInstanceOf(MemoryStore);
    expect(limits).toBeUndefined();
    const { limits: _burst, ...defaults } = ENGINE_DEFAULTS;
    expect(rest).toEqual({ ...defaults, retry: { ...ENGINE_DEFAULTS.retry, baseDelayMs: 10 } });
  });
});

describe('isMilliseconds (the rule the x-sluice-max-wait-ms header shares)', () => {
  it('accepts numbers ≥ 0, finite unless Infinity is allowed', () => {
    for (const ok of [0, 1, 1.5, 86_400_000]) expect(isMilliseconds(ok)).toBe(true);
    for (const bad of [-5, -0.1, Number.NaN, Infinity, '5', null, undefined])
      expect(isMilliseconds(bad)).toBe(false);
    expect(isMilliseconds(Infinity, true)).toBe(true);
    expect(isMilliseconds(Number.NaN, true)).toBe(false);
    expect(isMilliseconds(-1, true)).toBe(false);
  });
});
