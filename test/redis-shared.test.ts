/**
 * What the engine shares through the Redis store beyond bucket levels, with two engines on one prefix as
 * two processes would be (nothing else in common): the tripped quota, the learned limits, concurrency
 * slots (leases that lapse when their holder dies). The upstream is a function, so what each engine sent
 * is counted exactly.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { SluiceError } from '../src/engine/errors.js';
import type { EngineOptions } from '../src/engine/options.js';
import type { AttemptResult, EngineRequest } from '../src/engine/request.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../src/stores/redis/index.js';
import { freshPrefix, REDIS_URL, removeKeys, sharedRedis } from './support/redis.js';

let redis: Redis;
const prefixes: string[] = [];
const engines: Engine[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

afterAll(async () => {
  if (!redis) return; // beforeAll said why
  for (const prefix of prefixes) await removeKeys(redis, prefix);
  redis.disconnect();
});

const lane = { upstream: 'http://up', keyFingerprint: '0123456789abcdef', model: 'm' };
const req: EngineRequest = { lane, cost: { promptTokens: 10, completionTokens: 0, n: 1, maxGiven: true } };

function store(prefix: string, options: RedisStoreOptions = {}): RedisStore {
  return createRedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 5000, ...options });
}

/** Two engines, each with its own store on one fresh prefix. */
function pair(options: EngineOptions = {}, storeOptions: RedisStoreOptions = {}): [Engine, Engine] {
  const prefix = freshPrefix();
  prefixes.push(prefix);
  const make = () => new Engine({ store: store(prefix, storeOptions), ...options });
  const both: [Engine, Engine] = [make(), make()];
  engines.push(...both);
  return both;
}

const ok = (headers: Record<string, string> = {}): AttemptResult<string> => ({
  status: 200,
  headers,
  value: 'ok',
});

const quotaGone: AttemptResult<string> = {
  status: 429,
  headers: {},
  value: 'no',
  body: {
    error: {
      message: 'You exceeded your current quota, please check your plan and billing details.',
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    },
  },
};

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof SluiceError ? err.code : String(err);
  }
}

describe('shared through Redis', () => {
  it('trips the lane for every process on a quota error, with one probe per interval whoever sends it', async () => {
    const [a, b] = pair({ limits: { rpm: 6000 }, learnLimits: false, quotaProbeIntervalMs: 400 });
    let quota = true;
    const sent = { a: 0, b: 0 };
    const send = (who: 'a' | 'b') => async () => {
      sent[who]++;
      return quota ? quotaGone : ok();
    };
    expect(await codeOf(a.execute(req, send('a')))).toBe('quota_exhausted');
    // B never met the error; the store tells it, and nothing is sent.
    expect(await codeOf(b.execute(req, send('b')))).toBe('quota_exhausted');
    expect(await codeOf(b.execute(req, send('b')))).toBe('quota_exhausted');
    expect(sent.b).toBe(0);
    expect((await b.stats())[0]!.mode.kind).toBe('tripped');

    quota = false;
    await new Promise((resolve) => setTimeout(resolve, 450));
    // The probe interval passed: B's request is the probe, succeeds, and untrips the lane for A too.
    await b.execute(req, send('b'));
    expect(sent.b).toBe(1);
    // A still holds its own trip until its probe time (the same interval): then its probe finds the lane open.
    await a.execute(req, send('a'));
    await a.execute(req, send('a'));
    expect(sent.a).toBe(3);
  });

  it('starts a new process from the limits another one learned, without probing one request at a time', async () => {
    const [a, b] = pair();
    const headers = {
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '599',
      'x-ratelimit-reset-requests': '100ms',
      'x-ratelimit-limit-tokens': '100000',
      'x-ratelimit-remaining-tokens': '99990',
      'x-ratelimit-reset-tokens': '6ms',
    };
    await a.execute(req, async () => ok(headers));
    // B's first reservation shows a newer learning; B reads it and leaves the start's probing.
    await b.execute(req, async () => ok(headers));
    const stats = (await b.stats())[0]!;
    expect(stats.buckets.map((x) => [x.id, x.limit])).toEqual([
      ['requests/60000', 600],
      ['tokens/60000', 100_000],
    ]);
    let inFlight = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 4 }, () =>
        b.execute(req, async () => {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 30));
          inFlight--;
          return ok(headers);
        }),
      ),
    );
    expect(most).toBe(4);
  });

  it('keeps a stale learning from overwriting a newer one (the version in the store)', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const s1 = store(prefix);
    const s2 = store(prefix);
    try {
      const older = { buckets: [], tightened: { 'tokens/60000': 9000 } };
      const newer = { buckets: [], tightened: { 'tokens/60000': 5000 } };
      expect((await s1.learn('l', 0, newer, 0)).applied).toBe(true);
      // s2 learned from an answer before s1's and writes later, still at version 0: refused.
      expect(await s2.learn('l', 0, older, 0)).toEqual({ applied: false, version: 1, record: newer });
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('holds maxConcurrency across processes: never more in flight on the lane than the limit', async () => {
    const [a, b] = pair({ limits: { rpm: 60_000, maxConcurrency: 2 }, learnLimits: false });
    let inFlight = 0;
    let most = 0;
    const send = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 40));
      inFlight--;
      return ok();
    };
    // A slot is held until the caller is done with the answer (a body read to its end).
    const one = (engine: Engine) => engine.execute(req, send).then((e) => e.done());
    await Promise.all([
      ...Array.from({ length: 5 }, () => one(a)),
      ...Array.from({ length: 5 }, () => one(b)),
    ]);
    expect(most).toBe(2);
  });

  it('lets the slots of a process that died lapse, so the others go on', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const options: RedisStoreOptions = { instanceTtlMs: 600, heartbeatMs: 100 };
    const dying = new Engine({
      store: store(prefix, options),
      limits: { rpm: 60_000, maxConcurrency: 1 },
      learnLimits: false,
    });
    const survivor = new Engine({
      store: store(prefix, options),
      limits: { rpm: 60_000, maxConcurrency: 1 },
      learnLimits: false,
    });
    engines.push(survivor);
    let started!: () => void;
    const holding = new Promise<void>((resolve) => (started = resolve));
    // The dying process's request never ends; its store stops (no more heartbeats renew the lease).
    void dying.execute(req, () => {
      started();
      return new Promise<AttemptResult<string>>(() => {});
    });
    await holding;
    // While it lives, its heartbeat renews the lease past instanceTtlMs: the survivor cannot go.
    let went = false;
    const waiting = survivor.execute(req, async () => {
      went = true;
      return ok();
    });
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(went).toBe(false);
    await dying.close();
    await waiting;
    expect(went).toBe(true);
  });
});
