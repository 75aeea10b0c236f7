import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { LaneStats } from './lane.js';
import type { EngineOptions } from './options.js';
import type { AttemptResult, EngineRequest } from './request.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
const req: EngineRequest = { lane, cost: { promptTokens: 1, completionTokens: 0, n: 1, maxGiven: true } };
const T0 = 1_000_000;

function setup(options: EngineOptions = {}) {
  const clock = new ManualClock(T0);
  const engine = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, ...options });
  const stats = async (): Promise<LaneStats> => (await engine.stats())[0]!;
  return { clock, engine, stats };
}

const ok = (): AttemptResult<string> => ({ status: 200, headers: {}, value: 'ok' });
const rateLimited = (): AttemptResult<string> => ({
  status: 429,
  headers: {},
  value: 'limited',
  body: {
    error: {
      message:
        'Rate limit reached for m in organization org on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s.',
      type: 'requests',
      code: 'rate_limit_exceeded',
    },
  },
});
const quota = (): AttemptResult<string> => ({
  status: 429,
  headers: {},
  value: 'quota',
  body: {
    error: {
      message: 'You exceeded your current quota',
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    },
  },
});

describe('a lane reports its mode in stats()', () => {
  it('probes at the start until the server has answered, then is open', async () => {
    const { clock, engine, stats } = setup();
    const done = engine.execute(req, async () => {
      await clock.sleep(50);
      return ok();
    });
    await clock.advance(10);
    expect((await stats()).mode).toEqual({ kind: 'probing', reason: 'start' });
    await clock.runAll();
    await done;
    expect(await stats()).toMatchObject({ mode: { kind: 'open' }, tripped: false, cooldownUntil: 0 });
  });

  it('is open from the start when it does not learn limits', async () => {
    const { engine, stats } = setup({ learnLimits: false });
    await engine.execute(req, async () => ok());
    expect((await stats()).mode).toEqual({ kind: 'open' });
  });

  it('cools down after a 429, probes with the retry, and opens on its success', async () => {
    const { clock, engine, stats } = setup({ learnLimits: false });
    let calls = 0;
    const done = engine.execute(req, async () => {
      if (calls++ === 0) return rateLimited();
      await clock.sleep(50);
      return ok();
    });
    await clock.advance(0);
    expect(await stats()).toMatchObject({
      mode: { kind: 'cooling', until: T0 + 1000 },
      cooldownUntil: T0 + 1000,
      tripped: false,
    });
    await clock.advance(1010);
    expect(calls).toBe(2);
    expect((await stats()).mode).toEqual({ kind: 'probing', reason: 'rate_limited' });
    await clock.runAll();
    await done;
    expect((await stats()).mode).toEqual({ kind: 'open' });
  });

  it('trips on a quota error, probes once the interval has passed, and opens when the probe succeeds', async () => {
    const { clock, engine, stats } = setup({ quotaProbeIntervalMs: 10_000 });
    const first = await engine.execute(req, async () => quota()).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: 'quota_exhausted' });
    expect(await stats()).toMatchObject({
      mode: { kind: 'tripped', reason: (first as Error).message, probeAt: T0 + 10_000 },
      tripped: true,
    });
    await clock.advance(10_000);
    const probe = engine.execute(req, async () => {
      await clock.sleep(50);
      return ok();
    });
    await clock.advance(10);
    expect(await stats()).toMatchObject({ mode: { kind: 'probing', reason: 'quota_probe' }, tripped: true });
    // Everything else still fails fast while the probe is out.
    await expect(engine.execute(req, async () => ok())).rejects.toMatchObject({ code: 'quota_exhausted' });
    await clock.runAll();
    await probe;
    expect(await stats()).toMatchObject({ mode: { kind: 'open' }, tripped: false });
  });

  it('stays tripped when the quota probe is answered with a fatal error (400)', async () => {
    const { clock, engine, stats } = setup({ quotaProbeIntervalMs: 10_000, learnLimits: false });
    await engine.execute(req, async () => quota()).catch(() => undefined);
    await clock.advance(10_000);
    const probe = await engine.execute(req, async () => ({
      status: 400,
      headers: {},
      value: 'bad',
      body: { error: { message: 'bad', type: 'invalid_request_error' } },
    }));
    expect(probe.outcome).toBe('fatal');
    expect(await stats()).toMatchObject({ mode: { kind: 'tripped', probeAt: T0 + 20_000 }, tripped: true });
  });

  it('starts again as a new lane after an operator reset', async () => {
    const { engine, stats } = setup();
    await engine.execute(req, async () => quota()).catch(() => undefined);
    expect(await engine.resetLane((await stats()).lane)).toBe(true);
    expect(await stats()).toMatchObject({ mode: { kind: 'probing', reason: 'start' }, tripped: false });
  });
});
