import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { SluiceError } from './errors.js';
import type { SluiceEvent } from './events.js';
import type { EngineOptions, LimitsConfig } from './options.js';
import type { AttemptResult, EngineRequest } from './request.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
const T0 = 1_000_000;

function req(tokens = 1, tenant = 'default'): EngineRequest {
  return { lane, tenant, cost: { promptTokens: tokens, completionTokens: 0, n: 1, maxGiven: true } };
}

const ok = (headers: Record<string, string> = {}): AttemptResult<string> => ({
  status: 200,
  headers,
  value: 'ok',
});

function setup(options: EngineOptions) {
  const clock = new ManualClock(T0);
  const events: SluiceEvent[] = [];
  const engine = new Engine({
    clock,
    random: () => 0.5,
    safetyMarginMs: 0,
    learnLimits: false,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const sent: Record<string, number[]> = {};
  const run = (tokens = 1, tenant = 'default') =>
    engine.execute(req(tokens, tenant), async () => {
      (sent[tenant] ??= []).push(clock.now() - T0);
      return ok();
    });
  return { clock, engine, events, sent, run };
}

describe('engine.reconfigure()', () => {
  it('applies changed limits to a lane in use, waking its queue and keeping its bucket levels', async () => {
    let config: LimitsConfig = { rpm: 60, burstMs: 1000 };
    const { clock, engine, sent, run } = setup({ limits: () => config });
    const all = Array.from({ length: 5 }, () => run());
    await clock.advance(1200);
    expect(sent.default).toEqual([0, 1000]);
    config = { rpm: 120, burstMs: 1000 };
    engine.reconfigure();
    await clock.runAll();
    await Promise.all(all);
    // At 1.2 s the level is 1 − 0.2 s × 2/s = 0.6 of a capacity of 2: one goes now, the next at 0.6 + 1 − 1 = 0
    // … after 0.3 s, then one each 0.5 s. A level reset to 0 would have let two go at 1.2 s.
    expect(sent.default).toEqual([0, 1000, 1200, 1500, 2000]);
  });

  it('takes new limits given to it, replacing the ones the engine was built with', async () => {
    const { clock, engine, sent, run } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    const all = [run(), run(), run()];
    await clock.advance(0);
    engine.reconfigure({ limits: { rpm: 6, burstMs: 10_000 } });
    await clock.runAll();
    await Promise.all(all);
    expect(sent.default).toEqual([0, 10_000, 20_000]);
    expect((await engine.stats())[0]!.buckets).toMatchObject([
      { id: 'requests/60000', limit: 6, capacity: 1 },
    ]);
  });

  it('keeps what the lane learned from the server: limits from headers and the pace', async () => {
    let config: LimitsConfig | undefined = undefined;
    const { clock, engine } = setup({ limits: () => config, learnLimits: true });
    const slow = { error: { message: 'Please slow down', type: 'rate_limit_error', code: 'slow_down' } };
    let first = true;
    const done = engine.execute(req(), async () => {
      if (!first)
        return ok({
          'x-ratelimit-limit-tokens': '10000',
          'x-ratelimit-remaining-tokens': '10000',
          'x-ratelimit-reset-tokens': '0s',
        });
      first = false;
      return { status: 429, headers: { 'retry-after': '1' }, body: slow, value: 'x' };
    });
    await clock.runAll();
    await done;
    config = { rpm: 30 };
    engine.reconfigure();
    const [stats] = await engine.stats();
    // Pace 0.7 after slow_down, +2 % for the success: 0.72 of every limit.
    expect(stats!.mode).toEqual({ kind: 'open' });
    expect(stats!.buckets.map((b) => [b.id, Math.round(b.limit * 100) / 100])).toEqual([
      ['requests/60000', 21.6],
      ['tokens/60000', 7200],
    ]);
  });

  it('fails a queued request that can no longer fit with request_too_large; the rest go on', async () => {
    let config: LimitsConfig = { tpm: 6000 };
    const { clock, engine, events, sent, run } = setup({ limits: () => config });
    const first = run(5000);
    const big = run(4000).catch((e: unknown) => e);
    const small = run(1000);
    await clock.advance(0);
    config = { tpm: 3000 };
    engine.reconfigure();
    const err = (await big) as SluiceError;
    expect(err.code).toBe('request_too_large');
    expect(err.message).toContain('at most 3000 at once');
    expect(events.filter((e) => e.type === 'failed').map((e) => e.type === 'failed' && e.code)).toEqual([
      'request_too_large',
    ]);
    await clock.runAll();
    await Promise.all([first, small]);
    // 1000 needs the level at 2000: 3000 of 5000 drained at 50 a second.
    expect(sent.default).toEqual([0, 60_000]);
  });

  it("applies changed tenant sub-limits to the tenant's queued requests", async () => {
    let a: LimitsConfig = { rpm: 60, burstMs: 1000 };
    const { clock, engine, sent, run } = setup({ tenantLimits: (_lane, t) => (t === 'a' ? a : undefined) });
    const all = [run(1, 'a'), run(1, 'a'), run(1, 'a'), run(1, 'a')];
    await clock.advance(500);
    a = { rpm: 6, burstMs: 10_000 };
    engine.reconfigure();
    await clock.runAll();
    await Promise.all(all);
    // At 0.5 s a's level is 1 − 0.05: it is empty again after 9.5 s, then one each 10 s.
    expect(sent.a).toEqual([0, 10_000, 20_000, 30_000]);
  });

  it('gives queued requests their tenant when sub-limits first arrive with reconfigure', async () => {
    const { clock, engine, sent, run } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    const all = [run(1, 'a'), run(1, 'a'), run(1, 'a'), run(1, 'b')];
    await clock.advance(500);
    engine.reconfigure({ tenantLimits: (_lane, t) => (t === 'a' ? { rpm: 6, burstMs: 10_000 } : undefined) });
    await clock.runAll();
    await Promise.all(all);
    // a's second request starts its own bucket at 1 s; its third waits for that bucket, not the lane's.
    expect(sent).toEqual({ a: [0, 1000, 11_000], b: [2000] });
  });

  it('changes nothing when a new limit is invalid (invalid_option)', async () => {
    let config: LimitsConfig = { rpm: 60 };
    const { engine, run } = setup({ limits: () => config });
    await run();
    config = { rpm: -1 };
    expect(() => engine.reconfigure()).toThrow(
      'Expected `limits(http://up|k|m).rpm` to be a finite number above 0, got -1.',
    );
    expect(() => engine.reconfigure({ tenantLimits: { maxConcurrency: 1.5 } })).toThrow(
      'Expected `tenantLimits.maxConcurrency` to be a whole number from 1 up, got 1.5.',
    );
    expect((await engine.stats())[0]!.buckets).toMatchObject([{ id: 'requests/60000', limit: 60 }]);
    config = { rpm: 120 };
    engine.reconfigure();
    expect((await engine.stats())[0]!.buckets).toMatchObject([{ id: 'requests/60000', limit: 120 }]);
  });
});
