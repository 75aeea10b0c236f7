import { describe, expect, it } from 'vitest';
import { laneKey } from './keys.js';
import { REDIS_STORE_DEFAULTS, resolveOptions } from './options.js';

describe('createRedisStore options', () => {
  it('fills in the defaults, also for fields given as undefined', () => {
    const resolved = resolveOptions({ prefix: undefined as unknown as string });
    expect(resolved).toMatchObject(REDIS_STORE_DEFAULTS);
    expect(resolved.instanceId).toMatch(/^\d+-[0-9a-f]{8}$/);
  });

  it('names the option, the value and the fix when one is wrong', () => {
    expect(() => resolveOptions({ prefix: 'a{b}:' })).toThrow(/`prefix`.*without "\{" or "\}"/);
    expect(() => resolveOptions({ commandTimeoutMs: 0 })).toThrow(
      /`commandTimeoutMs` to be a number above 0, got 0/,
    );
    expect(() => resolveOptions({ expectedProcesses: 0.5 })).toThrow(
      /`expectedProcesses`.*from 1 up, got 0.5/,
    );
    expect(() => resolveOptions({ onOutage: 'open' as 'fail-closed' })).toThrow(
      /'local-share' or 'fail-closed'/,
    );
    expect(() =>
      resolveOptions({ url: 'redis://x', client: { evalsha: async () => 0, eval: async () => 0 } }),
    ).toThrow(/both `url` and `client`/);
  });
});

describe('key names', () => {
  it('hash-tag the whole lane id, so a lane stays in one Cluster slot even with braces in it', () => {
    expect(laneKey('sluice:', 'https://api.openai.com|0123456789abcdef|gpt-4o')).toBe(
      'sluice:{https://api.openai.com|0123456789abcdef|gpt-4o}:state',
    );
    expect(laneKey('p:', 'a{b}|c%d')).toBe('p:{a%7Bb%7D|c%25d}:state');
  });
});
