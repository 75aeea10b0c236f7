import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { EngineOptions } from './options.js';
import type { AttemptResult, EngineRequest } from './request.js';
import { SluiceError } from './errors.js';
import type { SluiceEvent } from './events.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };

function req(tokens = 10, extra: Partial<EngineRequest> = {}): EngineRequest {
  return { lane, cost: { promptTokens: tokens, completionTokens: 0, n: 1, maxGiven: true }, ...extra };
}

function ok(headers: Record<string, string> = {}): AttemptResult<string> {
  return { status: 200, headers, value: 'ok' };
}

function setup(options: EngineOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const events: SluiceEvent[] = [];
  const engine = new Engine({
    clock,
    random: () => 0.5,
    safetyMarginMs: 0,
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { clock, engine, events };
}

describe('admission under configured limits', () => {
  it('paces requests at the configured rate once the burst is spent', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 2000 } });
    const sentAt: number[] = [];
    const all = Array.from({ length: 5 }, () =>
      engine.execute(req(), async () => {
        sentAt.push(clock.now());
        return ok();
      }),
    );
    await clock.runAll();
    await Promise.all(all);
    const t0 = 1_000_000;
    // Capacity 2 (2 s of 60 RPM), then one per second.
    expect(sentAt.map((t) => t - t0)).toEqual([0, 0, 1000, 2000, 3000]);
  });

  it('keeps a safety margin free without lowering the steady rate', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 2000 }, safetyMarginMs: 100 });
    const sentAt: number[] = [];
    const all = Array.from({ length: 5 }, () =>
      engine.execute(req(), async () => {
        sentAt.push(clock.now() - 1_000_000);
        return ok();
      }),
    );
    await clock.runAll();
    await Promise.all(all);
    // The burst is 0.1 request smaller; after it, still exactly one per second.
    expect(sentAt).toEqual([0, 100, 1100, 2100, 3100]);
  });

  it('charges tokens and waits for the token bucket', async () => {
    const { clock, engine } = setup({ limits: { tpm: 6000 } });
    const sentAt: number[] = [];
    const all = [5000, 2000, 1000].map((t) =>
      engine.execute(req(t), async () => {
        sentAt.push(clock.now() - 1_000_000);
        return ok();
      }),
    );
    await clock.runAll();
    await Promise.all(all);
    // 5000 fits; 2000 needs level ≤ 4000: 1000 tokens drain in 10 s at 100/s; then 1000 needs 10 s more.
    expect(sentAt).toEqual([0, 10_000, 20_000]);
  });

  it('refuses at once what can never fit (request_too_large), sending nothing', async () => {
    const { engine } = setup({ limits: { tpm: 1000 } });
    let sent = 0;
    await expect(
      engine.execute(req(5000), async () => {
        sent++;
        return ok();
      }),
    ).rejects.toMatchObject({ code: 'request_too_large' });
    expect(sent).toBe(0);
  });

  it('fails at once with deadline_exceeded when the estimated wait exceeds the max wait', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    const first = engine.execute(req(), async () => ok());
    await clock.advance(0);
    await first;
    const start = clock.now();
    await expect(engine.execute(req(1, { maxWaitMs: 500 }), async () => ok())).rejects.toMatchObject({
      code: 'deadline_exceeded',
    });
    expect(clock.now()).toBe(start);
    // A request that can wait long enough is admitted.
    const later = engine.execute(req(1, { maxWaitMs: 1500 }), async () => ok());
    await clock.runAll();
    await expect(later).resolves.toMatchObject({ outcome: 'success' });
  });

  it('bounds the queue (queue_full with a retry hint)', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 }, maxQueue: 2 });
    const first = engine.execute(req(), async () => ok());
    await clock.advance(0);
    const waiting = [first, ...[0, 1].map(() => engine.execute(req(), async () => ok()))];
    await clock.advance(0);
    const err = await engine.execute(req(), async () => ok()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('queue_full');
    expect((err as SluiceError).retryAfterMs).toBeGreaterThan(0);
    await clock.runAll();
    await Promise.all(waiting);
  });

  it('removes an aborted request from the queue and rejects with the abort reason', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    let sent = 0;
    const send = async () => {
      sent++;
      return ok();
    };
    const first = engine.execute(req(), send);
    const controller = new AbortController();
    const second = engine.execute(req(1, { signal: controller.signal }), send);
    await clock.advance(10);
    controller.abort(new Error('user gave up'));
    await expect(second).rejects.toThrow('user gave up');
    await clock.runAll();
    await first;
    expect(sent).toBe(1);
  });
});

describe('priorities', () => {
  it('lets an interactive request overtake a flood of batch work within one admission slot', async () => {
    const { clock, engine } = setup({ limits: { rpm: 600, burstMs: 100 } });
    const order: string[] = [];
    const batch = Array.from({ length: 30 }, (_, i) =>
      engine.execute(req(1, { priority: 'batch' }), async () => {
        order.push(`b${i}`);
        return ok();
      }),
    );
    await clock.advance(1000);
    const before = order.length;
    const interactive = engine.execute(req(1, { priority: 'interactive' }), async () => {
      order.push('i');
      return ok();
    });
    await clock.runAll();
    await Promise.all([...batch, interactive]);
    // Sent (so present), and after at most the one batch admission already decided when it arrived.
    const at = order.indexOf('i');
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(before + 1);
  });

  it('shares a class between tenants by weight', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    const order: string[] = [];
    const run = (tenant: string, n: number) =>
      Array.from({ length: n }, () =>
        engine.execute(req(1, { tenant }), async () => {
          order.push(tenant);
          return ok();
        }),
      );
    const all = [...run('a', 10), ...run('b', 10)];
    await clock.runAll();
    await Promise.all(all);
    // Tenant b queued after all of a, yet alternates with it instead of waiting behind it.
    expect(order.slice(0, 8).filter((t) => t === 'b').length).toBeGreaterThanOrEqual(3);
  });
});

describe('answers', () => {
  const rateLimitBody = (wait: string) => ({
    error: {
      message: `Rate limit reached for m in organization org on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in ${wait}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: 'requests',
      param: null,
      code: 'rate_limit_exceeded',
    },
  });

  it('pauses the whole lane on a 429 and puts the request back at the head', async () => {
    const { clock, engine, events } = setup();
    const sentAt: number[] = [];
    let calls = 0;
    const result = engine.execute(req(), async () => {
      sentAt.push(clock.now() - 1_000_000);
      if (calls++ === 0) return { status: 429, headers: {}, body: rateLimitBody('1s'), value: 'limited' };
      return ok();
    });
    await clock.runAll();
    await expect(result).resolves.toMatchObject({ outcome: 'success', attempts: 2 });
    expect(sentAt).toEqual([0, 1000]);
    expect(events.some((e) => e.type === 'rate_limited' && e.waitMs === 1000)).toBe(true);
  });

  it("gives back a 429'd request's charge, but not below what the server last said", async () => {
    const { clock, engine } = setup({ maxRateLimitRetries: 0 });
    const reading = (used: number) =>
      ok({
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': String(60 - used),
        'x-ratelimit-reset-requests': `${used}s`,
      });
    // 40 of 60 in use (others' requests), learned from a first request.
    const first = engine.execute(req(), async () => reading(40));
    await clock.runAll();
    await first;
    // Two more at once. One comes back at 50 ms saying 45 in use (others sent more meanwhile); the other
    // is refused at 100 ms with a bare 429, which the server did not count.
    const counted = engine.execute(req(), async () => {
      await clock.sleep(50);
      return reading(45);
    });
    const refused = engine
      .execute(req(), async () => {
        await clock.sleep(100);
        return { status: 429, headers: { 'retry-after-ms': '1' }, value: 'limited' };
      })
      .catch((err: unknown) => err);
    await clock.runAll();
    await counted;
    expect(await refused).toMatchObject({ code: 'rate_limited' });
    const stats = await engine.laneStats(engine.laneId(lane));
    const level = stats!.buckets.find((b) => b.dimension === 'requests')!.level;
    // The server's 45, drained for about 0.1 s at one a second; giving back 1 below it would say 44.
    expect(level).toBeGreaterThan(44.8);
    expect(level).toBeLessThanOrEqual(45);
  });

  it('trips the lane on insufficient_quota: sent once, every queued request fails fast', async () => {
    const { clock, engine } = setup();
    let sent = 0;
    const quota = {
      error: {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    };
    const all = Array.from({ length: 5 }, () =>
      engine
        .execute(req(), async () => {
          sent++;
          return { status: 429, headers: {}, body: quota, value: 'x' };
        })
        .catch((e: unknown) => e),
    );
    await clock.runAll();
    const errors = await Promise.all(all);
    expect(sent).toBe(1);
    for (const e of errors) expect(e).toMatchObject({ code: 'quota_exhausted' });
    // A new request fails fast too, without being sent.
    await expect(engine.execute(req(), async () => ok())).rejects.toMatchObject({ code: 'quota_exhausted' });
    expect(sent).toBe(1);
  });

  it("quotes the upstream's quota message as one sentence, with no doubled period", async () => {
    const { clock, engine } = setup();
    const body = {
      error: {
        message: 'You exceeded your current quota. Read the docs: https://example.test/errors.',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      },
    };
    const failed = engine
      .execute(req(), async () => ({ status: 429, headers: {}, body, value: 'x' }))
      .catch((e: unknown) => e);
    await clock.runAll();
    const { message } = (await failed) as Error;
    expect(message).toContain('Read the docs: https://example.test/errors. Fix billing, then retry');
    expect(message).not.toContain('..');
  });

  it('lets one probe through after the probe interval and recovers when it succeeds', async () => {
    const { clock, engine } = setup({ quotaProbeIntervalMs: 10_000 });
    const quota = { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } };
    await expect(
      engine.execute(req(), async () => ({ status: 429, headers: {}, body: quota, value: 'x' })),
    ).rejects.toMatchObject({
      code: 'quota_exhausted',
    });
    await clock.advance(10_000);
    await expect(engine.execute(req(), async () => ok())).resolves.toMatchObject({ outcome: 'success' });
    await expect(engine.execute(req(), async () => ok())).resolves.toMatchObject({ outcome: 'success' });
  });

  it('retries a 5xx with backoff and returns a 400 at once', async () => {
    const { clock, engine } = setup();
    let calls = 0;
    const retried = engine.execute(req(), async () =>
      calls++ < 2 ? { status: 503, headers: {}, body: { error: { message: 'busy' } }, value: 'x' } : ok(),
    );
    await clock.runAll();
    await expect(retried).resolves.toMatchObject({ outcome: 'success', attempts: 3 });

    let fatalCalls = 0;
    const fatal = await engine.execute(req(), async () => {
      fatalCalls++;
      return {
        status: 400,
        headers: {},
        body: { error: { message: 'bad', type: 'invalid_request_error' } },
        value: 'bad',
      };
    });
    expect(fatal).toMatchObject({ outcome: 'fatal', status: 400, value: 'bad' });
    expect(fatalCalls).toBe(1);
  });

  it('gives up on transient failures after the attempt limit with upstream_error', async () => {
    const { clock, engine } = setup({ retry: { maxAttempts: 3 } });
    let calls = 0;
    const result = engine
      .execute(req(), async () => {
        calls++;
        throw new TypeError('fetch failed');
      })
      .catch((e: unknown) => e);
    await clock.runAll();
    expect(await result).toMatchObject({ code: 'upstream_error', attempts: 3 });
    expect(calls).toBe(3);
  });
});

describe('learning limits from headers', () => {
  it('sends one request alone first even with configured limits, until the server has answered', async () => {
    const { clock, engine } = setup({ limits: { rpm: 6000 } });
    const sentAt: number[] = [];
    const all = Array.from({ length: 3 }, () =>
      engine.execute(req(), async () => {
        sentAt.push(clock.now() - 1_000_000);
        await clock.sleep(50);
        return ok();
      }),
    );
    await clock.runAll();
    await Promise.all(all);
    expect(sentAt).toEqual([0, 50, 50]);
  });

  it('sends one request first, learns the limits, then paces the rest', async () => {
    const { clock, engine, events } = setup();
    const sentAt: number[] = [];
    let used = 0;
    const all = Array.from({ length: 4 }, () =>
      engine.execute(req(), async () => {
        sentAt.push(clock.now() - 1_000_000);
        used++;
        // A server with 60 RPM and a 2-request burst, reporting remaining out of the burst.
        return ok({
          'x-ratelimit-limit-requests': '60',
          'x-ratelimit-remaining-requests': String(Math.max(0, 2 - used)),
          'x-ratelimit-reset-requests': `${used}s`,
          'x-ratelimit-limit-tokens': '100000',
          'x-ratelimit-remaining-tokens': '99990',
          'x-ratelimit-reset-tokens': '6ms',
        });
      }),
    );
    await clock.runAll();
    await Promise.all(all);
    expect(events.some((e) => e.type === 'limits_learned')).toBe(true);
    // The first goes alone; the second fits the learned 2-request burst; then one per second.
    expect(sentAt[0]).toBe(0);
    expect(sentAt[2]! - sentAt[1]!).toBeGreaterThanOrEqual(999);
    expect(sentAt[3]! - sentAt[2]!).toBeGreaterThanOrEqual(999);
  });
  /** The lane's requests level once one request, answered 10 s after it was sent, said 30 of 60 in use. */
  async function levelAfterLateAnswer(safetyMarginMs: number, store?: Store): Promise<number> {
    const { clock, engine } = setup({ safetyMarginMs, ...(store ? { store } : {}) });
    const done = engine.execute(req(), async () => {
      await clock.sleep(10_000);
      // 30 of 60 requests in use, full again in 30 s.
      return ok({
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': '30',
        'x-ratelimit-reset-requests': '30s',
      });
    });
    await clock.runAll();
    await done;
    const stats = await engine.laneStats(engine.laneId(lane));
    return stats!.buckets.find((b) => b.dimension === 'requests')!.level;
  }

  it("takes a server's reading as of when the request was sent, drained since", async () => {
    // 30 when it was read, 10 s at one a second since: 20 now, not 30.
    expect(await levelAfterLateAnswer(0)).toBeCloseTo(20, 6);
  });

  it("drains a server's reading for the time since sending less the safety margin", async () => {
    // The request may have reached the server up to the margin (1 s) after it was sent: 30 − 9.
    expect(await levelAfterLateAnswer(1_000)).toBeCloseTo(21, 6);
  });

  it("takes a server's reading as of now when the store is not this process's own", async () => {
    // Another process's requests may have reached the server late: 30, undrained.
    const memory = new MemoryStore();
    const other = new Proxy(memory, {
      getPrototypeOf: () => Object.prototype,
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect(await levelAfterLateAnswer(0, other)).toBeCloseTo(30, 6);
  });
});

describe('long waits, concurrency and operator actions', () => {
  it('parks a request through a per-day limit until the reset instead of failing it', async () => {
    const { clock, engine } = setup();
    const rpd = {
      error: {
        message:
          'Rate limit reached for m in organization org on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit https://platform.openai.com/account/rate-limits to learn more.',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    };
    const sentAt: number[] = [];
    const result = engine.execute(req(), async () => {
      sentAt.push(clock.now() - 1_000_000);
      return sentAt.length === 1 ? { status: 429, headers: {}, body: rpd, value: 'x' } : ok();
    });
    await clock.runAll();
    await expect(result).resolves.toMatchObject({ outcome: 'success', attempts: 2 });
    expect(sentAt).toEqual([0, 432_000]);
  });

  it('fails a parked request whose deadline the server wait would pass', async () => {
    const { clock, engine } = setup();
    const body = {
      error: {
        message:
          'Rate limit reached for m in organization org on tokens per day (TPD): Limit 1000, Used 1000, Requested 10. Please try again in 14m24s.',
        type: 'tokens',
        code: 'rate_limit_exceeded',
      },
    };
    const result = engine
      .execute(req(10, { maxWaitMs: 60_000 }), async () => ({ status: 429, headers: {}, body, value: 'x' }))
      .catch((e: unknown) => e);
    await clock.runAll();
    expect(await result).toMatchObject({ code: 'deadline_exceeded', status: 429 });
  });

  it('keeps at most maxConcurrency requests in flight until their bodies are done', async () => {
    const { clock, engine } = setup({ limits: { maxConcurrency: 2 } });
    let inFlight = 0;
    let peak = 0;
    const all = Array.from({ length: 6 }, async () => {
      const execution = await engine.execute(req(), async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        return ok();
      });
      await clock.sleep(100);
      inFlight--;
      execution.done();
    });
    await clock.runAll();
    await Promise.all(all);
    expect(peak).toBe(2);
  });

  it('lowers the pace on slow_down and recovers it with successes', async () => {
    const { clock, engine } = setup({ limits: { rpm: 600 } });
    const slow = { error: { message: 'Please slow down', type: 'rate_limit_error', code: 'slow_down' } };
    let first = true;
    await Promise.all([
      engine.execute(req(), async () => {
        if (!first) return ok();
        first = false;
        return { status: 429, headers: { 'retry-after': '1' }, body: slow, value: 'x' };
      }),
      clock.runAll(),
    ]);
    const [lane] = await engine.stats();
    // 600 × 0.7 after slow_down, then +2 % of pace for the success that followed.
    expect(lane!.buckets.find((b) => b.dimension === 'requests')!.limit).toBeCloseTo(432);
  });

  it('backs off exponentially on 429s that give no wait at all', async () => {
    const { clock, engine } = setup();
    const sentAt: number[] = [];
    const result = engine.execute(req(), async () => {
      sentAt.push(clock.now() - 1_000_000);
      return sentAt.length < 4 ? { status: 429, headers: {}, value: 'x' } : ok();
    });
    await clock.runAll();
    await result;
    const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]!);
    // random() = 0.5 → 3/4 of a doubling ceiling: 750, 1500, 3000.
    expect(gaps).toEqual([750, 1500, 3000]);
  });

  it('reopens a tripped lane at once when an operator resets it', async () => {
    const { engine } = setup();
    const quota = { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } };
    await expect(
      engine.execute(req(), async () => ({ status: 429, headers: {}, body: quota, value: 'x' })),
    ).rejects.toMatchObject({
      code: 'quota_exhausted',
    });
    const [lane] = await engine.stats();
    expect(lane!.tripped).toBe(true);
    expect(await engine.resetLane(lane!.lane)).toBe(true);
    await expect(engine.execute(req(), async () => ok())).resolves.toMatchObject({ outcome: 'success' });
  });
});

describe('lane bookkeeping', () => {
  it('forgets lanes idle for a day', async () => {
    const { clock, engine } = setup();
    await engine.execute(req(), async () => ok());
    await clock.advance(2 * 86_400_000);
    await engine.execute({ ...req(), lane: { ...lane, model: 'other' } }, async () => ok());
    expect((await engine.stats()).map((s) => s.model)).toEqual(['other']);
  });
});
