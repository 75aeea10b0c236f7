/**
 * Processes sharing a store (as the Redis store shares one) that start on one lane: together on a
 * fresh lane, each sending a first request before any answer, or late on a lane the others learned.
 * Each must count what the others sent and take what they learned before it sends on its own guess.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import { MemoryStore } from './memory-store.js';
import type { AttemptResult, EngineRequest } from './request.js';
import type { Store } from './store.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
const T0 = 1_000_000;

function req(): EngineRequest {
  return { lane, cost: { promptTokens: 10, completionTokens: 0, n: 1, maxGiven: true } };
}

/** A store shared with other processes, as the Redis store is (not this process's own `MemoryStore`). */
function sharedStore(): Store {
  const inner = new MemoryStore();
  return new Proxy({} as Store, {
    get: (_target, name) => {
      const value = (inner as unknown as Record<string | symbol, unknown>)[name];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
    },
  });
}

/**
 * A server limiting requests to 120 a minute (`limit`) with a burst of 2 (`burst`), either of which a
 * test may lower, answering with OpenAI's headers; with `quote`, its 429s quote "Limit, Used,
 * Requested" and the wait.
 */
function server(clock: ManualClock, quote = false) {
  let level = 0;
  let at = clock.now();
  const arrivals: { at: number; who: string; status: number }[] = [];
  return {
    arrivals,
    burst: 2,
    limit: 120,
    answer(who: string): AttemptResult<string> {
      const now = clock.now();
      const rate = this.limit / 60_000;
      level = Math.max(0, level - (now - at) * rate);
      at = now;
      if (level + 1 > this.burst + 1e-9) {
        arrivals.push({ at: now - T0, who, status: 429 });
        const wait = (level + 1 - this.burst) / rate;
        const message = `Rate limit reached for m in organization org on requests per min (RPM): Limit ${this.limit}, Used ${Math.ceil(level)}, Requested 1. Please try again in ${wait / 1000}s.`;
        return quote
          ? {
              status: 429,
              headers: { 'retry-after-ms': String(Math.ceil(wait)) },
              body: { error: { message, type: 'requests', param: null, code: 'rate_limit_exceeded' } },
              value: 'refused',
            }
          : { status: 429, headers: { 'retry-after-ms': '500' }, value: 'refused' };
      }
      level += 1;
      arrivals.push({ at: now - T0, who, status: 200 });
      return {
        status: 200,
        headers: {
          'x-ratelimit-limit-requests': String(this.limit),
          'x-ratelimit-remaining-requests': String(Math.floor(this.burst - level)),
          'x-ratelimit-reset-requests': `${Math.ceil(level / rate)}ms`,
        },
        value: 'ok',
      };
    },
  };
}

describe('processes starting together on one fresh lane', () => {
  it("the first to learn the limits counts the other's first request, still on its way: no 429", async () => {
    const clock = new ManualClock(T0);
    const store = sharedStore();
    const upstream = server(clock);
    const a = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, store });
    const b = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, store });
    // B's first request reaches the server 50 ms after it was sent (a busy process); A's at once, and
    // A's answer (with the limits) comes back 1 ms later.
    const send = (engine: Engine, who: string, delayMs: number) =>
      engine.execute(req(), async () => {
        await clock.sleep(delayMs);
        const answer = upstream.answer(who);
        await clock.sleep(1);
        return answer;
      });
    const all = [send(a, 'A', 0), send(b, 'B', 50), send(a, 'A', 0), send(a, 'A', 0), send(b, 'B', 0)];
    await clock.runAll();
    await Promise.all(all);
    expect(upstream.arrivals.filter((x) => x.status === 429)).toEqual([]);
    // Two at once (the burst), then one every 500 ms.
    expect(upstream.arrivals.map((x) => x.at)).toEqual([0, 50, 501, 1001, 1501]);
  });
});

describe('a server that sends no rate-limit headers', () => {
  it('leaves only the first request charged provisionally: after its answer nothing more is', async () => {
    const clock = new ManualClock(T0);
    const store = sharedStore();
    const engine = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, store });
    for (let i = 0; i < 3; i++) {
      const done = engine.execute(req(), async () => ({ status: 200, headers: {}, value: 'ok' }));
      await clock.runAll();
      await done;
    }
    const spec = {
      id: 'requests/60000',
      dimension: 'requests' as const,
      limit: 60,
      windowMs: 60_000,
      capacity: 1e15,
    };
    const snapshot = await store.snapshot(engine.laneId(lane), [spec], clock.now());
    expect(snapshot.levels['requests/60000']).toBe(1);
  });
});

describe('a process with configured limits joining a lane others learned', () => {
  it('waits under the burst the others learned, not its configured one: no 429', async () => {
    const clock = new ManualClock(T0);
    const store = sharedStore();
    const upstream = server(clock);
    // Configured 120 a minute without a burst: a capacity of 120 until the server tells its own (2).
    const options = { clock, random: () => 0.5, safetyMarginMs: 0, store, limits: { rpm: 120 } };
    const a = new Engine(options);
    const b = new Engine(options);
    const send = (engine: Engine, who: string) =>
      engine.execute(req(), async () => {
        const answer = upstream.answer(who);
        await clock.sleep(1);
        return answer;
      });
    // A learns the burst of 2 from its first answer (and shares it), then fills it.
    const first = send(a, 'A');
    await clock.runAll();
    await first;
    const second = send(a, 'A');
    await clock.runAll();
    await second;
    expect(upstream.arrivals.map((x) => `${x.who} ${x.status}`)).toEqual(['A 200', 'A 200']);
    // B starts now, its configured capacity (120) far above the level (2): its first reservation shows
    // the newer learning, which it reads before it sends.
    const late = send(b, 'B');
    await clock.runAll();
    await late;
    expect(upstream.arrivals.map((x) => `${x.who} ${x.status}`)).toEqual(['A 200', 'A 200', 'B 200']);
    // The bucket was full at 1 ms: B's request goes once one unit has drained (500 ms at 2/s).
    expect(upstream.arrivals[2]!.at).toBeGreaterThanOrEqual(501);
    expect((await b.stats())[0]!.buckets.find((x) => x.id === 'requests/60000')!.capacity).toBe(2);
  });
});

/**
 * Two engines ("processes") A and B on one shared store and `server` (`quote`: its 429s quote their
 * figures); `send` answers after 1 ms, `settle` runs the clock until the given requests end.
 */
function twoLearned(quote: boolean) {
  const clock = new ManualClock(T0);
  const store = sharedStore();
  const upstream = server(clock, quote);
  const a = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, store });
  const b = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, store });
  const send = (engine: Engine, who: string) =>
    engine.execute(req(), async () => {
      const answer = upstream.answer(who);
      await clock.sleep(1);
      return answer;
    });
  const settle = async (...sent: Promise<unknown>[]) => {
    await clock.runAll();
    await Promise.all(sent);
  };
  /** The engine's requests bucket, as its stats show it. */
  const requests = async (engine: Engine) =>
    (await engine.stats())[0]!.buckets.find((x) => x.dimension === 'requests')!;
  return { clock, upstream, a, b, send, settle, requests };
}

describe('a process that learned the limits, when another learns a smaller burst', () => {
  it('reads the newer learning before it sends under its older burst: no 429 of its own', async () => {
    const { clock, upstream, a, b, send, settle, requests } = twoLearned(true);
    const capacityOf = async (engine: Engine) => (await requests(engine)).capacity;
    // Both learn the burst of 2; then the bucket drains.
    await settle(send(a, 'A'));
    await settle(send(b, 'B'));
    await settle(clock.sleep(2_000));
    // The server's burst drops to 1. B's second request meets a 429 whose figures show it (used 1 +
    // requested 1 − 0.5 s × 2/s): B adopts a burst of 1, shares it, and sends again 0.5 s later.
    upstream.burst = 1;
    await settle(send(b, 'B'), send(b, 'B'));
    expect(await capacityOf(b)).toBe(1);
    // The bucket is full again (B's retry). A, on its burst of 2, would send now into a 429.
    await settle(send(a, 'A'));
    expect(upstream.arrivals.filter((x) => x.who === 'A').map((x) => x.status)).toEqual([200, 200]);
    expect(await capacityOf(a)).toBe(1);
  });
});

describe('a process that learned the limits, when another learns a lower limit', () => {
  it('drains the shared level at the lower limit, not at its own older one: no 429', async () => {
    const { clock, upstream, a, b, send, settle, requests } = twoLearned(false);
    const limitOf = async (engine: Engine) => (await requests(engine)).limit;
    // Both learn 120 a minute with a burst of 2; then the bucket drains.
    await settle(send(a, 'A'));
    await settle(send(b, 'B'));
    await settle(clock.sleep(2_000));
    // The server's limit drops to 60 a minute (one a second). B learns it and fills the burst.
    upstream.limit = 60;
    await settle(send(b, 'B'));
    await settle(send(b, 'B'));
    expect(await limitOf(b)).toBe(60);
    // 600 ms later 0.6 of the 2 has drained. A, still on 120 a minute, would count 1.2.
    await settle(clock.sleep(600));
    await settle(send(a, 'A'));
    expect(upstream.arrivals.filter((x) => x.who === 'A').map((x) => x.status)).toEqual([200, 200]);
    expect(await limitOf(a)).toBe(60);
  });
});
