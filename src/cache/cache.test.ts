import { describe, expect, it } from 'vitest';
import { memoryBackend } from './backend.js';
import { ResponseCache } from './cache.js';
import type { CachedAnswer } from './entry.js';

const entry = (bytes = 100, storedAt = 0): CachedAnswer => ({
  kind: 'chat',
  status: 200,
  headers: {},
  json: { id: 'x', choices: [] },
  hasUsage: true,
  tokens: 42,
  storedAt,
  bytes,
});
const all = { read: true, write: true, maxAgeMs: Infinity };
const plain = { stream: false, usage: false };

describe('ResponseCache', () => {
  it('answers until the TTL, then misses', async () => {
    let now = 0;
    const cache = new ResponseCache({ ttlMs: 1000, now: () => now });
    await cache.store('k', entry(100, now));
    expect(await cache.lookup('k', all, plain)).toBeDefined();
    now = 1001;
    expect(await cache.lookup('k', all, plain)).toBeUndefined();
  });

  it('honours a request max age', async () => {
    let now = 0;
    const cache = new ResponseCache({ now: () => now });
    await cache.store('k', entry(100, 0));
    now = 5000;
    expect(await cache.lookup('k', { ...all, maxAgeMs: 4000 }, plain)).toBeUndefined();
    expect(await cache.lookup('k', { ...all, maxAgeMs: 6000 }, plain)).toBeDefined();
  });

  it('keeps the memory under its byte bound, dropping the least recently used', async () => {
    const cache = new ResponseCache({ backend: memoryBackend({ maxBytes: 250 }), now: () => 0 });
    await cache.store('a', entry(100));
    await cache.store('b', entry(100));
    await cache.lookup('a', all, plain);
    await cache.store('c', entry(100));
    expect(await cache.lookup('a', all, plain)).toBeDefined();
    expect(await cache.lookup('b', all, plain)).toBeUndefined();
    expect(await cache.lookup('c', all, plain)).toBeDefined();
  });

  it('lets one identical request lead and the others wait for it', async () => {
    const cache = new ResponseCache();
    const first = cache.lead('k');
    const second = cache.lead('k');
    expect('done' in first).toBe(true);
    expect('wait' in second).toBe(true);
    let released = false;
    void (second as { wait: Promise<void> }).wait.then(() => (released = true));
    await Promise.resolve();
    expect(released).toBe(false);
    (first as { done: () => void }).done();
    await (second as { wait: Promise<void> }).wait;
    expect(released).toBe(true);
    expect('done' in cache.lead('k')).toBe(true);
    expect(cache.stats.coalesced).toBe(1);
  });

  it('gives a request the answer stored while its lookup was still on the way', async () => {
    // A slow backend: a get reads what is there when it is asked, and answers when released.
    const stored = new Map<string, CachedAnswer>();
    let release = () => {};
    const cache = new ResponseCache({
      now: () => 0,
      backend: {
        get: (key) => {
          const seen = stored.get(key);
          return new Promise((resolve) => (release = () => resolve(seen)));
        },
        set: (key, e) => {
          stored.set(key, e);
          return Promise.resolve();
        },
      },
    });
    const first = await (async () => {
      const claim = cache.claim('k', all, plain);
      release();
      return claim;
    })();
    expect('done' in first).toBe(true);
    const second = cache.claim('k', all, plain); // asked while the first is still being answered
    await cache.store('k', entry());
    (first as { done: () => void }).done();
    await Promise.resolve();
    release();
    expect('entry' in (await second)).toBe(true);
  });

  it('counts the tokens a hit saves', () => {
    const cache = new ResponseCache();
    cache.hit(entry());
    cache.hit(entry());
    expect(cache.stats).toMatchObject({ hits: 2, tokensSaved: 84 });
  });
});
