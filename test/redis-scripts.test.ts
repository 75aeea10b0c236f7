/**
 * Round trips and the script cache, against a redis-server this file owns (INFO commandstats and
 * SCRIPT FLUSH would disturb other tests on the shared one).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucket, MINUTE_MS } from '../src/engine/limits.js';
import { createRedisStore } from '../src/stores/redis/index.js';
import { countingClient, freshPrefix, ownRedis, until, type OwnRedis } from './support/redis.js';

let server: OwnRedis;
let redis: Redis;

beforeAll(async () => {
  server = await ownRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await server.kill();
});

/** `calls` of each command in INFO commandstats. */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const [, name, n] of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls[name!] = Number(n);
  return calls;
}

const specs = [bucket('requests', 1000, MINUTE_MS), bucket('tokens', 100_000, MINUTE_MS)];

describe('Redis store round trips', () => {
  it('sends one EVALSHA per reservation and nothing else (INFO commandstats)', async () => {
    const store = createRedisStore({ url: server.url, prefix: freshPrefix(), heartbeatMs: 3_600_000 });
    await until(() => store.processes === 1, 'the first heartbeat');
    await store.reserve('lane', specs, { requests: 1, tokens: 10 }, Date.now());
    await redis.config('RESETSTAT');
    for (let i = 0; i < 50; i++) await store.reserve('lane', specs, { requests: 1, tokens: 10 }, Date.now());
    const calls = await commandCalls();
    expect(calls.evalsha).toBe(50);
    expect(calls.eval).toBeUndefined();
    await store.close();
  });

  it('recovers from SCRIPT FLUSH with one EVAL, then uses EVALSHA again', async () => {
    const client = countingClient(redis);
    // The caller's clock, held still: the level below is exactly three reservations, however slow the machine.
    const store = createRedisStore({ client, prefix: freshPrefix(), heartbeatMs: 3_600_000, time: 'caller' });
    const now = Date.now();
    await until(() => store.processes === 1, 'the first heartbeat');
    expect((await store.reserve('lane', specs, { requests: 1 }, now)).ok).toBe(true);
    await redis.script('FLUSH');
    const before = { ...client.calls };
    expect((await store.reserve('lane', specs, { requests: 1 }, now)).ok).toBe(true);
    expect(client.calls.evalsha - before.evalsha).toBe(1);
    expect(client.calls.eval - before.eval).toBe(1);
    expect((await store.reserve('lane', specs, { requests: 1 }, now)).ok).toBe(true);
    expect(client.calls.evalsha - before.evalsha).toBe(2);
    expect(client.calls.eval - before.eval).toBe(1);
    const snap = await store.snapshot('lane', specs, now);
    expect(snap.levels['requests/60000']).toBeCloseTo(3, 6);
    expect(store.status).toBe('redis');
    await store.close();
  });
});
