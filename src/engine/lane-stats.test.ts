import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { Priority } from './events.js';
import type { EngineRequest } from './request.js';

const T0 = 1_000_000;
const ref = (model: string) => ({ upstream: 'http://up', keyFingerprint: 'k', model });

function req(model: string, priority: Priority = 'default', tenant = 'default'): EngineRequest {
  return {
    lane: ref(model),
    priority,
    tenant,
    cost: { promptTokens: 10, completionTokens: 0, n: 1, maxGiven: true },
  };
}

function setup(tenantLimits?: (lane: unknown, tenant: string) => { rpm: number } | undefined) {
  const clock = new ManualClock(T0);
  const engine = new Engine({
    clock,
    safetyMarginMs: 0,
    learnLimits: false,
    limits: { rpm: 60, burstMs: 1000 },
    ...(tenantLimits ? { tenantLimits } : {}),
  });
  const send = async () => ({ status: 200, headers: {}, value: 'ok' });
  return { clock, engine, send };
}

describe('engine.laneStats()', () => {
  it('describes one lane as stats() does, and nothing for a lane it does not know', async () => {
    const { engine, send } = setup();
    await engine.execute(req('m1'), send);
    await engine.execute(req('m2'), send);
    const all = await engine.stats();
    expect(await engine.laneStats('http://up|k|m2')).toEqual(all.find((s) => s.model === 'm2'));
    expect(await engine.laneStats('http://up|k|m3')).toBeUndefined();
  });

  it('counts queued requests by priority class', async () => {
    const { clock, engine, send } = setup();
    const all = (['batch', 'batch', 'interactive', 'default', 'batch'] as const).map((p) =>
      engine.execute(req('m', p), send),
    );
    await clock.advance(0);
    // The first batch request went at once; the rest wait for the 1-a-second bucket.
    expect(await engine.laneStats('http://up|k|m')).toMatchObject({
      queued: 4,
      queuedByPriority: { interactive: 1, default: 1, batch: 2 },
    });
    await clock.runAll();
    await Promise.all(all);
    expect((await engine.laneStats('http://up|k|m'))!.queuedByPriority).toEqual({
      interactive: 0,
      default: 0,
      batch: 0,
    });
  });

  it("adds a tenant's share of the lane when asked, with its own buckets and slots", async () => {
    const { engine, send } = setup((_lane, t) => (t === 'a' ? { rpm: 30 } : undefined));
    const execution = await engine.execute(req('m', 'default', 'a'), send);
    const stats = await engine.laneStats('http://up|k|m', 'a');
    expect(stats!.tenant).toEqual({
      tenant: 'a',
      inFlight: 1,
      buckets: [
        expect.objectContaining({ id: 'tenant:a:requests/60000', limit: 30, capacity: 30, level: 1 }),
      ],
    });
    execution.done();
    expect((await engine.laneStats('http://up|k|m', 'a'))!.tenant!.inFlight).toBe(0);
    expect((await engine.laneStats('http://up|k|m', 'b'))!.tenant).toEqual({
      tenant: 'b',
      inFlight: 0,
      buckets: [],
    });
    expect((await engine.laneStats('http://up|k|m'))!.tenant).toBeUndefined();
  });
});
