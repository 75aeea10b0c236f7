/**
 * The Redis store against the real Redis on 127.0.0.1:6379 (CI starts it), a fresh key prefix per test.
 * The shared contract suite runs with `time: 'caller'`, so its injected `now` values drive the bucket math
 * exactly as they do for the memory store; Redis time is tested in redis-time.test.ts.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bucket, DAY_MS, MINUTE_MS, type BucketSpec } from '../src/engine/limits.js';
import { storeContract } from '../src/engine/store-contract.js';
import { MemoryStore } from '../src/engine/memory-store.js';
import type { Claim, LearnedLimits, SlotClaim } from '../src/engine/store.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../src/stores/redis/index.js';
import {
  countingClient,
  freshPrefix,
  keysUnder,
  REDIS_URL,
  removeKeys,
  sharedRedis,
  until,
} from './support/redis.js';

let redis: Redis;
const prefixes: string[] = [];
const stores: RedisStore[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterEach(async () => {
  // Every store a test made must have decided in Redis, never in an outage fallback.
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

function make(options: RedisStoreOptions = {}): RedisStore {
  const prefix = options.prefix ?? freshPrefix();
  prefixes.push(prefix);
  const store = createRedisStore({
    ...(options.client ? {} : { url: REDIS_URL }),
    time: 'caller',
    commandTimeoutMs: 5000,
    ...options,
    prefix,
  });
  stores.push(store);
  return store;
}

// The contract plays a process's leases lapsing while the store lives on. The store's first heartbeat
// (at once) and its later ones (every heartbeatMs) renew this process's leases, as they must for a
// live process: each store starts once the first has run, and no other runs during a test.
storeContract('redis (caller time)', async (options) => {
  const store = make({ heartbeatMs: 3_600_000, ...(options ? { instanceTtlMs: options.leaseMs } : {}) });
  await until(() => store.processes > 0, 'the first heartbeat');
  return store;
});

/** Every bucket kind a lane can have: RPM, TPM, RPD, TPD, input and output tokens per minute. */
const sixBuckets: BucketSpec[] = [
  bucket('requests', 60, MINUTE_MS),
  bucket('tokens', 10_000, MINUTE_MS),
  bucket('requests', 3, DAY_MS),
  bucket('tokens', 1_000_000, DAY_MS),
  bucket('inputTokens', 8000, MINUTE_MS),
  bucket('outputTokens', 2000, MINUTE_MS),
];

describe('Redis store', () => {
  it('reserves a six-bucket cost vector in one round trip, all or nothing', async () => {
    const client = countingClient(redis);
    const store = make({ client, heartbeatMs: 3_600_000 });
    await until(() => store.processes > 0, 'the first heartbeat');
    const cost = { requests: 1, tokens: 300, inputTokens: 200, outputTokens: 100 };
    expect((await store.reserve('six', sixBuckets, cost, 0)).ok).toBe(true); // may load the script
    const before = client.total;
    expect((await store.reserve('six', sixBuckets, cost, 0)).ok).toBe(true);
    expect((await store.reserve('six', sixBuckets, cost, 0)).ok).toBe(true);
    const refused = await store.reserve('six', sixBuckets, cost, 0);
    expect(refused).toMatchObject({ ok: false, blockedBy: 'requests/86400000' });
    // 3 per day: the first unit drains after 8 hours.
    expect(refused.waitMs).toBeCloseTo(DAY_MS / 3, 3);
    expect(client.total - before).toBe(3);
    expect(client.calls.eval).toBeLessThanOrEqual(1);
    const snap = await store.snapshot('six', sixBuckets, 0);
    expect(snap.levels).toEqual({
      'requests/60000': 3,
      'tokens/60000': 900,
      'requests/86400000': 3,
      'tokens/86400000': 900,
      'inputTokens/60000': 600,
      'outputTokens/60000': 300,
    });
  });

  it("leases a lane's and a tenant's slot in the reservation's one round trip, gives both back in one, and keeps each set in the lane's hash slot", async () => {
    const client = countingClient(redis);
    const prefix = freshPrefix();
    const store = make({ client, prefix, heartbeatMs: 3_600_000 });
    await until(() => store.processes > 0, 'the first heartbeat');
    const specs = [bucket('requests', 6000, MINUTE_MS)];
    const claim = (id: string) => ({
      rank: 1,
      own: 0,
      last: true,
      owner: 'o',
      slot: { id, max: 5, tenant: { id: 'tenant:a:concurrency', max: 1 } },
    });
    expect((await store.reserve('t', specs, { requests: 1 }, 0, claim('warm'))).ok).toBe(true); // may load
    await store.release('t', 'warm', 0);
    const before = client.total;
    expect((await store.reserve('t', specs, { requests: 1 }, 0, claim('s1'))).ok).toBe(true);
    expect(await store.reserve('t', specs, { requests: 1 }, 0, claim('s2'))).toMatchObject({
      ok: false,
      blockedBy: 'tenant:a:concurrency',
    });
    expect(client.total - before).toBe(2);
    const keys = (await keysUnder(redis, prefix)).filter((k) => k.includes(':slots'));
    expect(keys.sort()).toEqual([`${prefix}{t}:slots`, `${prefix}{t}:slots:tenant:a:concurrency`]);
    expect(await redis.zrange(`${prefix}{t}:slots:tenant:a:concurrency`, 0, -1)).toEqual(['s1']);
    await store.release('t', 's1', 0);
    expect(client.total - before).toBe(3);
    expect(await redis.zcard(`${prefix}{t}:slots`)).toBe(0);
    expect(await redis.zcard(`${prefix}{t}:slots:tenant:a:concurrency`)).toBe(0);
  });

  it('decides exactly as the memory store for any sequence of operations (margins, learned limits and callers behind them included)', async () => {
    const base: BucketSpec[] = [
      { ...bucket('requests', 10, 1000, 500), margin: 0.5 },
      { ...bucket('tokens', 1000, 1000), margin: 30 },
      bucket('tokens', 5000, 10_000),
    ];
    // Callers holding learned version 0, 1 or 2 (each with limits of its own), or naming none; `learn`
    // writes the next version, naming one bucket or two at limits of their own.
    const scale = { 0: 1, 1: 0.5, 2: 2 } as const;
    const callers = fc.constantFrom(undefined, 0, 1, 2);
    const specsOf = (learned: 0 | 1 | 2 | undefined): BucketSpec[] =>
      base.map((spec) => ({ ...spec, limit: spec.limit * scale[learned ?? 0] }));
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('reserve'),
        requests: fc.integer({ min: 0, max: 3 }),
        tokens: fc.integer({ min: 0, max: 1200 }),
      }),
      fc.record({ kind: fc.constant('adjust'), tokens: fc.integer({ min: -500, max: 500 }) }),
      fc.record({ kind: fc.constant('refund'), tokens: fc.integer({ min: 0, max: 800 }) }),
      fc.record({ kind: fc.constant('raise'), level: fc.integer({ min: 0, max: 1500 }) }),
      fc.record({ kind: fc.constant('cooldown'), span: fc.integer({ min: -100, max: 800 }) }),
      fc.record({
        kind: fc.constant('learn'),
        requests: fc.integer({ min: 2, max: 40 }),
        tokens: fc.option(fc.integer({ min: 200, max: 4000 }), { nil: undefined }),
      }),
    );
    const steps = fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), learned: callers, op }), {
      minLength: 1,
      maxLength: 25,
    });
    const store = make();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(steps, async (list) => {
        const lane = `property-${run++}`;
        const memory = new MemoryStore();
        let now = 1_000;
        for (const { dt, learned, op } of list) {
          now += dt;
          const specs = specsOf(learned);
          if (op.kind === 'reserve') {
            const cost = { requests: op.requests, tokens: op.tokens };
            const claim = { rank: 1, own: 0, last: true, owner: 'p', ...(learned && { learned }) };
            const a = memory.reserve(lane, specs, cost, now, claim);
            const b = await store.reserve(lane, specs, cost, now, claim);
            expect(b.ok).toBe(a.ok);
            expect(b.blockedBy).toBe(a.blockedBy);
            if (a.waitMs === Infinity) expect(b.waitMs).toBe(Infinity);
            // The script answers waits in whole nanoseconds, rounded up.
            else {
              expect(b.waitMs).toBeGreaterThanOrEqual(a.waitMs - 1e-9);
              expect(b.waitMs).toBeLessThanOrEqual(a.waitMs + 1e-6);
            }
          } else if (op.kind === 'adjust') {
            memory.adjust(lane, specs, { tokens: op.tokens }, now, learned);
            await store.adjust(lane, specs, { tokens: op.tokens }, now, learned);
          } else if (op.kind === 'refund') {
            memory.refund(lane, specs, { tokens: op.tokens }, now, learned);
            await store.refund(lane, specs, { tokens: op.tokens }, now, learned);
          } else if (op.kind === 'raise') {
            memory.raise(lane, specs, { 'tokens/1000': op.level }, now, learned);
            await store.raise(lane, specs, { 'tokens/1000': op.level }, now, learned);
          } else if (op.kind === 'cooldown') {
            memory.cooldown(lane, now + op.span, now);
            await store.cooldown(lane, now + op.span, now);
          } else {
            const learned: LearnedLimits = {
              buckets: [bucket('requests', op.requests, 1000)],
              tightened: {},
            };
            if (op.tokens !== undefined) learned.buckets.push(bucket('tokens', op.tokens, 1000));
            const version = memory.learn(lane, 0, undefined, now).version;
            expect(memory.learn(lane, version, learned, now).applied).toBe(true);
            expect((await store.learn(lane, version, learned, now)).applied).toBe(true);
          }
          const a = memory.snapshot(lane, specs, now, learned);
          const b = await store.snapshot(lane, specs, now, learned);
          for (const spec of specs) expect(b.levels[spec.id]).toBeCloseTo(a.levels[spec.id]!, 6);
          expect(b.cooldownUntil).toBeCloseTo(a.cooldownUntil, 6);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("decides slots exactly as the memory store: the lane's and tenants' sets, releases and lapses", async () => {
    const specs = [bucket('requests', 6000, MINUTE_MS)];
    const leaseMs = 1000;
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('reserve'),
        tenant: fc.constantFrom('', 'a', 'b'),
        laneMax: fc.constantFrom(undefined, 2, 3),
      }),
      fc.record({ kind: fc.constant('release'), pick: fc.nat() }),
    );
    const steps = fc.array(fc.record({ dt: fc.integer({ min: 0, max: 600 }), op }), {
      minLength: 1,
      maxLength: 30,
    });
    // No heartbeat after the first (before any lease), so that nothing renews a lease in Redis alone.
    const store = make({ instanceTtlMs: leaseMs, heartbeatMs: 3_600_000 });
    await until(() => store.processes > 0, 'the first heartbeat');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(steps, async (list) => {
        const lane = `slots-${run++}`;
        const memory = new MemoryStore({ leaseMs });
        const held: string[] = [];
        let now = 1_000;
        let n = 0;
        for (const { dt, op } of list) {
          now += dt;
          if (op.kind === 'reserve') {
            const slot: SlotClaim = { id: `s${n++}` };
            if (op.laneMax !== undefined) slot.max = op.laneMax;
            if (op.tenant !== '') slot.tenant = { id: `tenant:${op.tenant}:concurrency`, max: 1 };
            const claim: Claim = { rank: 2, own: 0, last: true, owner: 'o', slot };
            const a = memory.reserve(lane, specs, { requests: 1 }, now, claim);
            const b = await store.reserve(lane, specs, { requests: 1 }, now, claim);
            expect(b.ok).toBe(a.ok);
            expect(b.blockedBy).toBe(a.blockedBy);
            if (!a.ok) expect(b.waitMs).toBeCloseTo(a.waitMs, 5);
            if (a.ok) held.push(slot.id);
          } else if (held.length > 0) {
            const [id] = held.splice(op.pick % held.length, 1);
            memory.release(lane, id!, now);
            await store.release(lane, id!, now);
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('lets a lane key live until its state has drained, and never less than its longest window', async () => {
    const prefix = freshPrefix();
    const store = make({ prefix });
    await store.reserve('ttl', sixBuckets, { requests: 1, tokens: 10 }, 0);
    const [key] = (await keysUnder(redis, prefix)).filter((k) => k.endsWith(':state'));
    expect(key).toBe(`${prefix}{ttl}:state`);
    const dayTtl = await redis.pttl(key!);
    expect(dayTtl).toBeGreaterThan(DAY_MS - 60_000);
    expect(dayTtl).toBeLessThanOrEqual(DAY_MS);

    const minute = [bucket('tokens', 1000, MINUTE_MS)];
    await store.raise('over', minute, { 'tokens/60000': 3000 }, 0);
    const drainTtl = await redis.pttl(`${prefix}{over}:state`);
    // 3000 units at 1000 per minute take three minutes to drain.
    expect(drainTtl).toBeGreaterThan(3 * MINUTE_MS - 60_000);
    expect(drainTtl).toBeLessThanOrEqual(3 * MINUTE_MS);

    await store.cooldown('over', 10 * MINUTE_MS, 0);
    expect(await redis.pttl(`${prefix}{over}:state`)).toBeGreaterThan(9 * MINUTE_MS);
  });

  it('forgets an idle lane: its key expires once its buckets have drained', async () => {
    const prefix = freshPrefix();
    const store = make({ prefix, time: 'redis' });
    const fast = [bucket('requests', 10, 300)];
    await store.reserve('idle', fast, { requests: 10 }, Date.now());
    const key = `${prefix}{idle}:state`;
    expect(await redis.exists(key)).toBe(1);
    let gone = false;
    const poll = setInterval(() => void redis.exists(key).then((n) => (gone = n === 0)), 50);
    try {
      await until(() => gone, `${key} to expire`);
    } finally {
      clearInterval(poll);
    }
    expect((await store.reserve('idle', fast, { requests: 10 }, Date.now())).ok).toBe(true);
  });

  it('clears a lane by deleting its key, and keeps other lanes', async () => {
    const prefix = freshPrefix();
    const store = make({ prefix });
    const specs = [bucket('requests', 1, MINUTE_MS)];
    await store.reserve('a', specs, { requests: 1 }, 0);
    await store.reserve('b', specs, { requests: 1 }, 0);
    await store.clear('a');
    expect((await keysUnder(redis, prefix)).filter((k) => k.endsWith(':state'))).toEqual([
      `${prefix}{b}:state`,
    ]);
  });

  it('counts live instances under its prefix and leaves the count on close', async () => {
    const prefix = freshPrefix();
    const a = make({ prefix, heartbeatMs: 50 });
    const b = make({ prefix, heartbeatMs: 50 });
    await until(() => a.processes === 2 && b.processes === 2, 'both instances to count two');
    await b.close();
    await until(() => a.processes === 1, 'the count to drop after close');
  });
});
