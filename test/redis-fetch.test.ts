/**
 * createFetch() with the Redis store, against the emulator on 127.0.0.1 and the shared Redis: two
 * engines (as two processes would be) pace one API key's lane together, and nothing in Redis carries key
 * material.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../src/protocol/lane.js';
import { createFetch, MemoryStore, type SluiceFetch, type Store } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';
import { createRedisStore, type RedisStore } from '../src/stores/redis/index.js';
import { freshPrefix, keysUnder, REDIS_URL, removeKeys, sharedRedis } from './support/redis.js';

let redis: Redis;
let mock: MockServer | undefined;
const prefixes: string[] = [];
const fetches: SluiceFetch[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterEach(async () => {
  for (const f of fetches.splice(0)) await f.engine.close();
  await mock?.close();
  mock = undefined;
});

afterAll(async () => {
  if (!redis) return; // beforeAll said why
  for (const prefix of prefixes) await removeKeys(redis, prefix);
  redis.disconnect();
});

const API_KEY = 'sk-proj-THISISASECRETKEY0123456789';

function redisStore(prefix: string): RedisStore {
  return createRedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 5000 });
}

/** Sends `n` chat completions through `f` at once; resolves with their statuses. */
async function burst(f: SluiceFetch, url: string, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await f(`${url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `q${i}` }],
          max_tokens: 5,
        }),
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
}

/** Two engines, each with its own store from `store()`, each sending 30 requests at once. */
async function twoEngines(store: () => Store): Promise<{ statuses: number[]; rejected: number }> {
  // 1200 RPM with a 1 s burst: 20 at once, then 20 per second.
  mock = await startMock({ rpm: 1200, tpm: 10_000_000, burstSeconds: 1 });
  const a = createFetch({ store: store(), limits: { rpm: 1200, burstMs: 1000 } });
  const b = createFetch({ store: store(), limits: { rpm: 1200, burstMs: 1000 } });
  fetches.push(a, b);
  const statuses = (await Promise.all([burst(a, mock.url, 30), burst(b, mock.url, 30)])).flat();
  return { statuses, rejected: mock.stats().rejected.total };
}

describe('createFetch() with the Redis store', () => {
  it('paces two engines on one lane together, so the server is not pushed over its limit', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const shared = await twoEngines(() => redisStore(prefix));
    expect(shared.statuses.every((s) => s === 200)).toBe(true);
    expect(shared.rejected).toBeLessThanOrEqual(1);
  });

  it('(control) two engines with memory stores each spend the whole limit and meet 429s', async () => {
    const apart = await twoEngines(() => new MemoryStore());
    expect(apart.rejected).toBeGreaterThan(5);
  });

  it('keeps no key material in Redis: key names and contents carry only the 16-hex fingerprint', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    mock = await startMock({ rpm: 1200, tpm: 10_000_000 });
    const f = createFetch({ store: redisStore(prefix) });
    fetches.push(f);
    expect(await burst(f, mock.url, 3)).toEqual([200, 200, 200]);

    const keys = await keysUnder(redis, prefix);
    const fingerprint = keyFingerprint(API_KEY);
    expect(fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(keys.some((k) => k.includes(`|${fingerprint}|`))).toBe(true);
    const texts: string[] = [...keys];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'hash') texts.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'zset') texts.push(...(await redis.zrange(key, 0, -1)));
      else if (type === 'string') texts.push((await redis.get(key)) ?? '');
    }
    // No 8-character piece of the key appears anywhere.
    const secret = API_KEY.slice('sk-proj-'.length);
    for (const text of texts) {
      for (let i = 0; i + 8 <= secret.length; i++) expect(text).not.toContain(secret.slice(i, i + 8));
    }
  });
});
