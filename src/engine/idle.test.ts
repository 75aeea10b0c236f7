import { describe, expect, it } from 'vitest';
import { flushMicrotasks, ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { EngineOptions } from './options.js';
import type { AttemptResult, EngineRequest } from './request.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
const req: EngineRequest = { lane, cost: { promptTokens: 1, completionTokens: 0, n: 1, maxGiven: true } };
const ok = async (): Promise<AttemptResult<string>> => ({ status: 200, headers: {}, value: 'ok' });

function setup(options: EngineOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const engine = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, learnLimits: false, ...options });
  return { clock, engine };
}

/** Whether `promise` has settled by now (after every pending callback and one turn of the event loop). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await flushMicrotasks();
  return done;
}

describe('engine.idle()', () => {
  it('resolves at once when nothing was ever run', async () => {
    const { engine } = setup();
    expect(await settled(engine.idle())).toBe(true);
  });

  it('waits for every queued request, resolving when the last one has settled', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    const all = [engine.execute(req, ok), engine.execute(req, ok), engine.execute(req, ok)];
    const idle = engine.idle();
    await clock.advance(1000);
    // One per second: the first two went, the third still waits.
    expect(await settled(idle)).toBe(false);
    await clock.advance(1000);
    expect(await settled(idle)).toBe(true);
    await Promise.all(all);
  });

  it('counts a request waiting out a backoff before its retry', async () => {
    const { clock, engine } = setup();
    let calls = 0;
    const result = engine.execute(req, async () =>
      calls++ === 0 ? { status: 503, headers: {}, value: 'busy' } : ok(),
    );
    const idle = engine.idle();
    await clock.advance(0);
    expect(calls).toBe(1);
    expect(clock.pending).toBe(1); // the backoff
    expect(await settled(idle)).toBe(false);
    await clock.runAll();
    expect(await settled(idle)).toBe(true);
    await expect(result).resolves.toMatchObject({ attempts: 2 });
  });

  it('counts requests that fail as settled too', async () => {
    const { clock, engine } = setup({ retry: { maxAttempts: 1 } });
    const failed = engine
      .execute(req, async () => ({ status: 503, headers: {}, value: 'busy' }))
      .catch((e: unknown) => e);
    const idle = engine.idle();
    await clock.runAll();
    expect(await failed).toMatchObject({ code: 'upstream_error' });
    expect(await settled(idle)).toBe(true);
  });

  it("resolves after the callers' handlers of the last request have run", async () => {
    const { engine } = setup();
    const order: string[] = [];
    void engine.execute(req, ok).then(async () => {
      order.push('handler');
      await Promise.resolve();
      order.push('handler, after an await');
    });
    await engine.idle().then(() => order.push('idle'));
    expect(order).toEqual(['handler', 'handler, after an await', 'idle']);
  });

  it('keeps waiting while handlers start more work (as a batch feeds its window)', async () => {
    const { clock, engine } = setup({ limits: { rpm: 60, burstMs: 1000 } });
    let followUp: Promise<unknown> | undefined;
    void engine.execute(req, ok).then(() => {
      followUp = engine.execute(req, ok);
    });
    const idle = engine.idle();
    await clock.advance(0);
    expect(followUp).toBeDefined();
    expect(await settled(idle)).toBe(false);
    await clock.advance(1000);
    expect(await settled(idle)).toBe(true);
    await followUp;
  });
});
