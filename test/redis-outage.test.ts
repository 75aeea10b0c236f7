/**
 * Redis outages against a redis-server this file owns (on a free port, no persistence), killed, paused
 * and started again while the stores run. The stores must keep answering, admit at most their documented
 * share while Redis is away, and go back to Redis on their own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bucket, DAY_MS } from '../src/engine/limits.js';
import {
  createRedisStore,
  type RedisStatusChange,
  type RedisStore,
  type RedisStoreOptions,
} from '../src/stores/redis/index.js';
import { freshPrefix, ownRedis, until, type OwnRedis } from './support/redis.js';

let server: OwnRedis | undefined;
const stores: RedisStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  await server?.kill();
  server = undefined;
});

function make(url: string, options: RedisStoreOptions): RedisStore {
  const store = createRedisStore({
    url,
    heartbeatMs: 100,
    probeMs: 100,
    commandTimeoutMs: 300,
    instanceTtlMs: 10_000,
    ...options,
  });
  stores.push(store);
  return store;
}

// Caller time for the local decisions; Redis keeps its own. Ten requests per day: nothing drains meanwhile.
const NOW = 1_700_000_000_000;
const perDay = [bucket('requests', 10, DAY_MS)];
const one = { requests: 1 };

async function admitAll(store: RedisStore, lane: string): Promise<number> {
  let admitted = 0;
  while (admitted < 20 && (await store.reserve(lane, perDay, one, NOW)).ok) admitted++;
  return admitted;
}

describe('Redis outage, local-share', () => {
  it('keeps answering when Redis dies, admits limit ÷ live instances minus what was in use, and hands it back on return', async () => {
    server = await ownRedis();
    const prefix = freshPrefix();
    const changes: RedisStatusChange[] = [];
    const a = make(server.url, { prefix, onStatus: (c) => changes.push(c) });
    const b = make(server.url, { prefix });
    await until(() => a.processes === 2 && b.processes === 2, 'both instances to count two');

    // Before the outage: 2 of 10 in use, and both instances have seen that.
    expect((await a.reserve('lane', perDay, one, NOW)).ok).toBe(true);
    expect((await b.reserve('lane', perDay, one, NOW)).ok).toBe(true);
    await a.snapshot('lane', perDay, NOW);
    await b.snapshot('lane', perDay, NOW);

    await server.kill();
    // Each instance's share is 10 ÷ 2 = 5, of which its share of the 2 in use (1) is spent: 4 each.
    expect(await admitAll(a, 'lane')).toBe(4);
    expect(await admitAll(b, 'lane')).toBe(4);
    expect(a.status).toBe('local-share');
    expect(b.status).toBe('local-share');
    expect(a.share).toBe(2);
    const refused = await a.reserve('lane', perDay, one, NOW);
    // The share drains at 5 per day: one unit every 4.8 hours (a little less, as the seed drained in
    // Redis time for as long as the test ran: far less than the 20 s a test may take).
    expect(refused).toMatchObject({ ok: false, blockedBy: 'requests/86400000' });
    expect(refused.waitMs).toBeLessThanOrEqual(DAY_MS / 5);
    expect(refused.waitMs).toBeGreaterThan(DAY_MS / 5 - 2 * 20_000);
    expect(changes[0]).toMatchObject({ status: 'local-share', previous: 'redis', processes: 2 });

    // Redis comes back empty (no persistence): the stores notice, and hand back what they charged locally
    // and, since Redis lost its data, their share of what it held before.
    await server.start();
    await until(() => a.status === 'redis' && b.status === 'redis', 'both stores to go back to Redis');
    expect(changes.at(-1)).toMatchObject({ status: 'redis', previous: 'local-share' });
    expect((await a.reserve('lane', perDay, one, NOW)).ok).toBe(false);
    expect((await b.reserve('lane', perDay, one, NOW)).ok).toBe(false);
    const level = (await a.snapshot('lane', perDay, NOW)).levels['requests/86400000']!;
    // 2 before + 4 + 4 during the outage, less what drained in Redis time since (10 per day).
    expect(level).toBeLessThanOrEqual(10);
    expect(level).toBeGreaterThan(9.99);
  });

  it('hands back only what was charged locally when Redis kept its data (a pause, not a restart)', async () => {
    server = await ownRedis();
    const prefix = freshPrefix();
    const a = make(server.url, { prefix });
    await until(() => a.processes === 1, 'the first heartbeat');
    expect((await a.reserve('lane', perDay, { requests: 3 }, NOW)).ok).toBe(true);

    // SIGSTOP: the connection stays open and Redis stops answering, so commands time out.
    server.pause();
    const during = await a.reserve('lane', perDay, one, NOW);
    expect(a.status).toBe('local-share');
    expect(during.ok).toBe(true);
    // One instance: its share is the whole limit, 3 of which were in use.
    expect(await admitAll(a, 'lane')).toBe(6);

    server.resume();
    await until(() => a.status === 'redis', 'the store to go back to Redis');
    const level = (await a.snapshot('lane', perDay, NOW)).levels['requests/86400000']!;
    // 3 kept by Redis + 7 handed back. The reserve that timed out may also have reached Redis once it woke
    // up: it was admitted locally too, so it counts twice (never too few).
    expect(level).toBeGreaterThan(9.99);
    expect(level).toBeLessThanOrEqual(11);
  });

  it('starts in local-share with limit ÷ expectedProcesses when Redis is down from the start, and joins it later', async () => {
    server = await ownRedis();
    await server.kill();
    const changes: RedisStatusChange[] = [];
    const a = make(server.url, {
      prefix: freshPrefix(),
      expectedProcesses: 5,
      onStatus: (c) => changes.push(c),
    });
    expect(await admitAll(a, 'lane')).toBe(2);
    expect(a.status).toBe('local-share');
    expect(a.processes).toBe(0);
    await server.start();
    await until(() => a.status === 'redis', 'the store to reach Redis');
    expect(a.processes).toBe(1);
    // The 2 admitted locally are handed back: 8 are left in Redis.
    expect(await admitAll(a, 'lane')).toBe(8);
    expect(changes.map((c) => c.status)).toEqual(['local-share', 'redis']);
  });
});

describe('Redis outage, fail-closed', () => {
  it('refuses with a retry wait and blockedBy "redis" while Redis is down, never throws (not even from a failing onStatus), and recovers', async () => {
    server = await ownRedis();
    const a = make(server.url, {
      prefix: freshPrefix(),
      onOutage: 'fail-closed',
      probeMs: 250,
      onStatus: () => {
        throw new Error('a listener that fails');
      },
    });
    await until(() => a.processes === 1, 'the first heartbeat');
    expect((await a.reserve('lane', perDay, one, NOW)).ok).toBe(true);
    await server.kill();
    for (let i = 0; i < 3; i++) {
      expect(await a.reserve('lane', perDay, one, NOW)).toEqual({
        ok: false,
        waitMs: 250,
        blockedBy: 'redis',
      });
    }
    expect(a.status).toBe('fail-closed');
    // The other operations keep answering too.
    await a.adjust('lane', perDay, { requests: -1 }, NOW);
    await a.cooldown('lane', NOW + 1000, NOW);
    expect((await a.snapshot('lane', perDay, NOW)).cooldownUntil).toBe(NOW + 1000);
    await a.clear('lane');
    await server.start();
    await until(() => a.status === 'redis', 'the store to go back to Redis');
    expect((await a.reserve('lane', perDay, one, NOW)).ok).toBe(true);
  });
});
