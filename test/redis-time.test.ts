/**
 * `time: 'redis'` (the default): the bucket math runs on Redis's clock, so processes whose clocks differ
 * (stores in this process, and two spawned processes with injected clocks, against the emulator)
 * share a lane exactly; the caller's `now` only translates cooldown times into the caller's own clock.
 * The injected clocks below are seconds apart on purpose. Bounds that depend on how long the test took
 * are computed from the time it measured, so a slow machine cannot break them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bucket, DAY_MS, MINUTE_MS } from '../src/engine/limits.js';
import { startMock } from '../src/mock/index.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../src/stores/redis/index.js';
import { freshPrefix, REDIS_URL, removeKeys, sharedRedis } from './support/redis.js';

let redis: Redis;
const prefixes: string[] = [];
const stores: RedisStore[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterEach(async () => {
  for (const store of stores.splice(0)) {
    expect(store.status).toBe('redis');
    await store.close();
  }
});

afterAll(async () => {
  if (!redis) return; // beforeAll said why
  for (const prefix of prefixes) await removeKeys(redis, prefix);
  redis.disconnect();
});

/** Two stores on one prefix, as two processes on two hosts would be. */
function pair(options: RedisStoreOptions = {}): [RedisStore, RedisStore] {
  const prefix = freshPrefix();
  prefixes.push(prefix);
  const make = () => createRedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 5000, ...options });
  const both: [RedisStore, RedisStore] = [make(), make()];
  stores.push(...both);
  return both;
}

// Host A's clock and host B's clock, seven seconds apart.
const A = 1_700_000_000_000;
const B = A + 7000;

describe('Redis time', () => {
  it('lets two stores whose clocks differ by seven seconds share one lane exactly', async () => {
    const [a, b] = pair();
    const perDay = [bucket('requests', 4, DAY_MS)];
    const started = performance.now();
    expect((await a.reserve('lane', perDay, { requests: 1 }, A)).ok).toBe(true);
    expect((await b.reserve('lane', perDay, { requests: 1 }, B)).ok).toBe(true);
    expect((await a.reserve('lane', perDay, { requests: 1 }, A)).ok).toBe(true);
    expect((await b.reserve('lane', perDay, { requests: 1 }, B)).ok).toBe(true);
    const refusedA = await a.reserve('lane', perDay, { requests: 1 }, A);
    const refusedB = await b.reserve('lane', perDay, { requests: 1 }, B);
    const levelA = (await a.snapshot('lane', perDay, A)).levels['requests/86400000']!;
    const levelB = (await b.snapshot('lane', perDay, B)).levels['requests/86400000']!;
    const elapsed = performance.now() - started + 1;
    // Four units at 4 per day: one drains every 6 hours. Only the real time the test took drains.
    for (const r of [refusedA, refusedB]) {
      expect(r.ok).toBe(false);
      expect(r.waitMs).toBeLessThanOrEqual(DAY_MS / 4);
      expect(r.waitMs).toBeGreaterThanOrEqual(DAY_MS / 4 - elapsed);
    }
    for (const level of [levelA, levelB]) {
      expect(level).toBeLessThanOrEqual(4);
      expect(level).toBeGreaterThanOrEqual(4 - (elapsed * 4) / DAY_MS);
    }
  });

  it('does not let the later clock see a fuller bucket drained (it would with caller time)', async () => {
    const perMinute = [bucket('requests', 60, MINUTE_MS)];
    const admittedByB = async (options: RedisStoreOptions) => {
      const [a, b] = pair(options);
      for (let i = 0; i < 60; i++)
        expect((await a.reserve('lane', perMinute, { requests: 1 }, A)).ok).toBe(true);
      let admitted = 0;
      while (admitted < 60 && (await b.reserve('lane', perMinute, { requests: 1 }, B)).ok) admitted++;
      return admitted;
    };
    // B's clock is 7 s ahead: with caller time it sees 7 s of draining that never happened.
    expect(await admittedByB({ time: 'caller' })).toBe(7);
    // With Redis time only the real time since A's charges drains: one unit per second.
    const started = performance.now();
    const redisTime = await admittedByB({ time: 'redis' });
    expect(redisTime).toBeLessThanOrEqual(Math.ceil((performance.now() - started) / 1000));
  });

  it('pauses every host for the same span, whatever its clock, and answers in the caller’s clock', async () => {
    const [a, b] = pair();
    const specs = [bucket('requests', 60, MINUTE_MS)];
    const started = performance.now();
    await a.cooldown('lane', A + 5000, A);
    // B's clock says 7 s later; its pause still lasts 5 s from now, in B's clock.
    const refused = await b.reserve('lane', specs, { requests: 1 }, B);
    const snapB = await b.snapshot('lane', specs, B);
    const snapA = await a.snapshot('lane', specs, A);
    const elapsed = performance.now() - started + 1;
    expect(refused).toMatchObject({ ok: false, blockedBy: 'cooldown' });
    expect(refused.waitMs).toBeLessThanOrEqual(5000);
    expect(refused.waitMs).toBeGreaterThanOrEqual(5000 - elapsed);
    expect(snapB.cooldownUntil).toBeLessThanOrEqual(B + 5000);
    expect(snapB.cooldownUntil).toBeGreaterThanOrEqual(B + 5000 - elapsed);
    expect(snapA.cooldownUntil).toBeLessThanOrEqual(A + 5000);
    expect(snapA.cooldownUntil).toBeGreaterThanOrEqual(A + 5000 - elapsed);
    // An earlier pause from B's clock does not shorten it.
    await b.cooldown('lane', B + 1000, B);
    const after = (await a.snapshot('lane', specs, A)).cooldownUntil;
    expect(after).toBeGreaterThanOrEqual(A + 5000 - (performance.now() - started + 1));
  });
});

const SKEW_PROCESS = fileURLToPath(new URL('./support/skew-process.mjs', import.meta.url));

interface Skewed {
  ready: Promise<void>;
  go(): void;
  statuses: Promise<number[]>;
}

/** Starts skew-process.mjs; `go()` once it is ready; `statuses` are what it printed at its end. */
function skewed(base: string, prefix: string, offsetMs: number, time: string): Skewed {
  const child = spawn(process.execPath, [SKEW_PROCESS, base, prefix, String(offsetMs), '30', time], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  const statuses = new Promise<number[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`skew-process exited ${code}`));
      resolve(JSON.parse(out.slice('ready\n'.length)) as number[]);
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), statuses };
}

describe('two processes whose clocks differ by seven seconds', () => {
  // 600 RPM with a 1 s burst on both sides: 10 at once, then 10 a second; 2 × 30 requests at once.
  async function run(time: 'redis' | 'caller'): Promise<{ statuses: number[]; rejected: number }> {
    const mock = await startMock({ rpm: 600, tpm: 10_000_000, burstSeconds: 1 });
    try {
      const prefix = freshPrefix();
      prefixes.push(prefix);
      const both = [skewed(mock.url, prefix, 0, time), skewed(mock.url, prefix, 7000, time)];
      await Promise.all(both.map((p) => p.ready));
      for (const p of both) p.go();
      const statuses = (await Promise.all(both.map((p) => p.statuses))).flat();
      return { statuses, rejected: mock.stats().rejected.total };
    } finally {
      await mock.close();
    }
  }

  it('share one lane exactly on Redis time: the emulator refuses none of their requests', async () => {
    const { statuses, rejected } = await run('redis');
    expect(statuses).toHaveLength(60);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(rejected).toBe(0);
  });
});
