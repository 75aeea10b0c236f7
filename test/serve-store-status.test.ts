/**
 * `sluice_store_status` on a real gateway: the Redis store's own status, read at each scrape — `redis`
 * while a real Redis answers, the outage mode once a store's Redis does not.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisStore, type RedisStore } from '../src/stores/redis/index.js';
import { chat, metric, startObserved, type Observed } from './support/observe.js';

const KEY = 'sk-store-status-3c1d9e';

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('sluice_store_status', () => {
  let o: Observed | undefined;
  let store: RedisStore | undefined;
  afterEach(async () => {
    await o?.close();
    await store?.close();
    o = store = undefined;
  });

  it('is 1 for redis while the shared store’s Redis answers', async () => {
    store = createRedisStore({
      url: 'redis://127.0.0.1:6379',
      prefix: `sluice-test-status-${process.pid}-${Date.now()}:`,
      commandTimeoutMs: 5000,
    });
    o = await startObserved({ gateway: { store } });
    expect(await chat(o.url, KEY)).toBe(200);
    const text = await (await fetch(`${o.url}/metrics`)).text();
    expect(metric(text, 'sluice_store_status', { status: 'redis' })).toBe(1);
    expect(metric(text, 'sluice_store_status', { status: 'local-share' })).toBe(0);
  });

  it('shows the outage mode once the store’s Redis stops answering', async () => {
    store = createRedisStore({
      url: `redis://127.0.0.1:${await deadPort()}`,
      prefix: 'sluice-test-status-dead:',
      commandTimeoutMs: 200,
      onOutage: 'local-share',
    });
    o = await startObserved({ gateway: { store } });
    expect(await chat(o.url, KEY)).toBe(200);
    await vi.waitFor(
      async () => {
        const text = await (await fetch(`${o!.url}/metrics`)).text();
        expect(metric(text, 'sluice_store_status', { status: 'local-share' })).toBe(1);
        expect(metric(text, 'sluice_store_status', { status: 'redis' })).toBe(0);
      },
      { timeout: 20_000, interval: 100 },
    );
  });
});
