/**
 * What the engine shares through the Redis store beyond bucket levels, with two engines on one prefix as
 * two processes would be (nothing else in common): the tripped quota, the learned limits, concurrency
 * slots of the lane and of a tenant (leases that lapse when their holder dies). The upstream is a
 * function, so what each engine sent is counted exactly.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/engine/clock.js';
import { Engine } from '../src/engine/engine.js';
import { SluiceError } from '../src/engine/errors.js';
import type { EngineOptions } from '../src/engine/options.js';
import type { AttemptResult, EngineRequest } from '../src/engine/request.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../src/stores/redis/index.js';
import { freshPrefix, REDIS_URL, removeKeys, sharedRedis, until } from './support/redis.js';

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
    // One manual clock for both processes, and the store on their time: the probe interval passes only
    // when the test moves the clock, however slowly the machine runs.
    const clock = new ManualClock(1_000_000);
    const [a, b] = pair(
      { limits: { rpm: 6000 }, learnLimits: false, quotaProbeIntervalMs: 400, clock },
      { time: 'caller' },
    );
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
    await clock.advance(450);
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

describe("a tenant's maxConcurrency shared through Redis", () => {
  /** Only tenant `app` limits its concurrency; the lane does not. */
  const options: EngineOptions = {
    limits: { rpm: 60_000 },
    learnLimits: false,
    tenantLimits: (_lane, tenant) => (tenant === 'app' ? { maxConcurrency: 2 } : undefined),
  };
  const as = (tenant: string): EngineRequest => ({ ...req, tenant });

  /** A send that holds its answer until `open()`, counting what is in flight. */
  function gate() {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const state = { sent: 0, inFlight: 0, most: 0 };
    const send = async () => {
      state.sent++;
      state.most = Math.max(state.most, ++state.inFlight);
      await opened;
      state.inFlight--;
      return ok();
    };
    return { state, send, open };
  }

  it("holds a tenant's slots taken in one process against the other, while other tenants go", async () => {
    const [a, b] = pair(options);
    const held = gate();
    // Process A takes both of the tenant's slots and keeps them until its answers are done.
    const inA = [0, 1].map(() => a.execute(as('app'), held.send).then((e) => e.done()));
    await until(() => held.state.sent === 2, "A's two requests sent");
    const waiting = gate();
    const inB = [0, 1].map(() => b.execute(as('app'), waiting.send).then((e) => e.done()));
    // Another tenant's requests in B go at once: the held tenant does not hold up the lane.
    for (let i = 0; i < 3; i++) await b.execute(as('other'), async () => ok()).then((e) => e.done());
    expect(waiting.state.sent).toBe(0);
    waiting.open();
    held.open();
    await Promise.all([...inA, ...inB]);
    expect(waiting.state.sent).toBe(2);
  });

  it('never has more of the tenant in flight across both processes than its maxConcurrency', async () => {
    const [a, b] = pair(options);
    const total = 10;
    let started = 0;
    let inFlight = 0;
    let most = 0;
    // Each answer waits for a second one in flight (or for the last request), so that two overlap.
    const send = async () => {
      started++;
      most = Math.max(most, ++inFlight);
      await until(() => inFlight >= 2 || started === total, 'a second request in flight');
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      return ok();
    };
    const one = (engine: Engine) => engine.execute(as('app'), send).then((e) => e.done());
    await Promise.all(Array.from({ length: total }, (_, i) => one(i % 2 === 0 ? a : b)));
    expect(started).toBe(total);
    expect(most).toBe(2);
  });

  it("lets a tenant's lease of a process that died lapse after instanceTtlMs of the callers' clock", async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const T0 = 1_000_000;
    const clock = new ManualClock(T0);
    // Caller time, so that the lease's end is in the manual clock; one slot for the tenant.
    const storeOptions: RedisStoreOptions = { time: 'caller', instanceTtlMs: 600 };
    const one: EngineOptions = {
      ...options,
      clock,
      tenantLimits: (_lane, tenant) => (tenant === 'app' ? { maxConcurrency: 1 } : undefined),
    };
    const dying = new Engine({ store: store(prefix, storeOptions), ...one });
    const survivor = new Engine({ store: store(prefix, storeOptions), ...one });
    engines.push(survivor);
    let holding = false;
    // The dying process's request never ends; its store stops (nothing releases or renews the lease).
    void dying.execute(as('app'), () => {
      holding = true;
      return new Promise<AttemptResult<string>>(() => {});
    });
    await until(() => holding, "the dying process's request sent");
    await dying.close();
    let went = false;
    const waiting = survivor.execute(as('app'), async () => {
      went = true;
      return ok();
    });
    /** Moves the manual clock on, giving the survivor's Redis round trips real time to answer. */
    const step = async (ms: number) => {
      await clock.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    for (let t = 0; t < 590; t += 10) await step(10);
    expect(went).toBe(false);
    for (let i = 0; i < 500 && !went; i++) await step(10);
    await waiting;
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 600);
  });
});
