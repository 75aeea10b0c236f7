import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import { MemoryStore } from './memory-store.js';
import type { SluiceError } from './errors.js';
import type { Priority } from './events.js';
import type { EngineOptions, LimitsConfig } from './options.js';
import type { AttemptResult, EngineRequest } from './request.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'm' };
const LANE = 'http://up|k|m';
const T0 = 1_000_000;

function req(tenant: string, tokens = 10, extra: Partial<EngineRequest> = {}): EngineRequest {
  return {
    lane,
    tenant,
    cost: { promptTokens: tokens, completionTokens: 0, n: 1, maxGiven: true },
    ...extra,
  };
}

const ok = (): AttemptResult<string> => ({ status: 200, headers: {}, value: 'ok' });

/** Sub-limits for the named tenants only. */
function only(limits: Record<string, LimitsConfig>) {
  return (_lane: unknown, tenant: string) => limits[tenant];
}

function setup(options: EngineOptions) {
  const clock = new ManualClock(T0);
  const engine = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, learnLimits: false, ...options });
  const sent: Record<string, number[]> = {};
  /** Runs one request of `tenant`, recording when it was sent (ms after T0). */
  const run = (tenant: string, tokens = 10, extra: Partial<EngineRequest> = {}) =>
    engine.execute(req(tenant, tokens, extra), async () => {
      (sent[tenant] ??= []).push(clock.now() - T0);
      return ok();
    });
  return { clock, engine, sent, run };
}

describe('tenant sub-limits', () => {
  it("admits another tenant's requests at once while a tenant waits for its own sub-limit", async () => {
    const { clock, sent, run } = setup({
      limits: { rpm: 600 },
      tenantLimits: only({ a: { rpm: 60, burstMs: 1000 } }),
    });
    const all = Array.from({ length: 10 }, () => run('a'));
    await clock.advance(500);
    all.push(run('b'), run('b'), run('b'));
    await clock.runAll();
    await Promise.all(all);
    expect(sent.a).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
    expect(sent.b).toEqual([500, 500, 500]);
  });

  it('keeps admitting lower classes while a tenant of a higher class waits for its sub-limit', async () => {
    const { clock, sent, run } = setup({
      limits: { rpm: 600 },
      tenantLimits: only({ a: { rpm: 60, burstMs: 1000 } }),
    });
    const p = (priority: Priority) => ({ priority });
    const all = [0, 1, 2, 3].map(() => run('a', 10, p('interactive')));
    all.push(run('b', 10, p('batch')), run('b', 10, p('batch')));
    await clock.runAll();
    await Promise.all(all);
    expect(sent.a).toEqual([0, 1000, 2000, 3000]);
    expect(sent.b).toEqual([0, 0]);
  });

  it('still lets an interactive request overtake queued batch work once the held tenant is back', async () => {
    // The lane admits one request a second; tenant a may send one every 2 s.
    const { clock, engine } = setup({
      limits: { rpm: 60, burstMs: 1000 },
      tenantLimits: only({ a: { rpm: 30, burstMs: 2000 } }),
    });
    const order: string[] = [];
    const go = (name: string, tenant: string, priority: Priority) =>
      engine.execute(req(tenant, 10, { priority }), async () => {
        order.push(`${name}@${clock.now() - T0}`);
        return ok();
      });
    const all = [go('a1', 'a', 'interactive'), go('a2', 'a', 'interactive')];
    for (let i = 1; i <= 4; i++) all.push(go(`b${i}`, 'b', 'batch'));
    await clock.runAll();
    await Promise.all(all);
    // a2 waits for a's own bucket (2 s) while batch takes the lane's free second; then a2 goes first.
    expect(order).toEqual(['a1@0', 'b1@1000', 'a2@2000', 'b2@3000', 'b3@4000', 'b4@5000']);
  });

  it("holds a tenant at its own maxConcurrency while other tenants' requests go", async () => {
    const { clock, engine } = setup({ tenantLimits: only({ a: { maxConcurrency: 2 } }) });
    const sent: Record<string, number[]> = {};
    let aHeldSlots = false;
    const go = (tenant: string) =>
      engine
        .execute(req(tenant), async () => {
          (sent[tenant] ??= []).push(clock.now() - T0);
          return ok();
        })
        .then(async (execution) => {
          if (tenant === 'a') aHeldSlots ||= execution.holdsSlot;
          await clock.sleep(100);
          execution.done();
        });
    const all = [go('a'), go('a'), go('a'), go('a')];
    await clock.advance(10);
    all.push(go('b'), go('b'), go('b'));
    await clock.runAll();
    await Promise.all(all);
    expect(aHeldSlots).toBe(true);
    expect(sent.a).toEqual([0, 0, 100, 100]);
    expect(sent.b).toEqual([10, 10, 10]);
  });

  it('holds a tenant at its maxConcurrency across two engines sharing a store, while other tenants go', async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryStore();
    const make = () =>
      new Engine({
        clock,
        store,
        random: () => 0.5,
        safetyMarginMs: 0,
        learnLimits: false,
        tenantLimits: only({ a: { maxConcurrency: 1 } }),
      });
    const [one, two] = [make(), make()];
    const sent: string[] = [];
    const go = (engine: Engine, name: string, tenant: string, holdMs: number) =>
      engine
        .execute(req(tenant), async () => {
          sent.push(`${name}@${clock.now() - T0}`);
          return ok();
        })
        .then(async (execution) => {
          await clock.sleep(holdMs);
          execution.done();
        });
    // The first engine holds tenant a's one slot for 100 ms; the second's own count of a is 0.
    const all = [go(one, 'a1', 'a', 100)];
    await clock.advance(0);
    all.push(go(two, 'a2', 'a', 0), go(two, 'b1', 'b', 0), go(two, 'b2', 'b', 0));
    await clock.runAll();
    await Promise.all(all);
    expect(sent).toEqual(['a1@0', 'b1@0', 'b2@0', 'a2@100']);
  });

  it('refuses at once, naming the tenant, a request above its own capacity (request_too_large)', async () => {
    const { sent, run } = setup({ limits: { tpm: 100_000 }, tenantLimits: only({ a: { tpm: 1000 } }) });
    const err = (await run('a', 5000).catch((e: unknown) => e)) as SluiceError;
    expect(err.code).toBe('request_too_large');
    expect(err.message).toContain('tenant "a" may use at most 1000 at once');
    expect(sent.a).toBeUndefined();
    await expect(run('b', 5000)).resolves.toMatchObject({ outcome: 'success' });
  });

  it("counts a tenant's own queue against its deadline, and not a held tenant's against another's", async () => {
    const { clock, sent, run } = setup({
      limits: { rpm: 600 },
      tenantLimits: only({ a: { rpm: 60, burstMs: 1000 } }),
    });
    const all: Promise<unknown>[] = [0, 1, 2, 3, 4].map(() => run('a'));
    await clock.advance(0);
    // a's sixth request would go at 5 s: beyond a 2 s deadline, so it fails at once.
    const late = (await run('a', 10, { maxWaitMs: 2000 }).catch((e: unknown) => e)) as SluiceError;
    expect(late.code).toBe('deadline_exceeded');
    expect(clock.now()).toBe(T0);
    all.push(run('b', 10, { maxWaitMs: 100 }));
    await clock.runAll();
    await Promise.all(all);
    expect(sent.b).toEqual([0]);
  });

  it("gives a 429's charge back to the tenant's buckets too", async () => {
    // Slow buckets (0.2 and 0.1 a second), so that a charge kept would still show a second later.
    const { clock, engine } = setup({ limits: { rpm: 12 }, tenantLimits: only({ a: { rpm: 6 } }) });
    let attempts = 0;
    const done = engine.execute(req('a'), async () =>
      ++attempts === 1 ? { status: 429, headers: { 'retry-after-ms': '1000' }, value: 'x' } : ok(),
    );
    await clock.runAll();
    await expect(done).resolves.toMatchObject({ attempts: 2 });
    expect(clock.now()).toBe(T0 + 1000);
    const stats = await engine.laneStats(LANE, 'a');
    // Only the second attempt is charged, just now.
    expect(stats!.tenant!.buckets).toMatchObject([{ id: 'tenant:a:requests/60000', level: 1 }]);
    expect(stats!.buckets.find((b) => b.id === 'requests/60000')!.level).toBeCloseTo(1);
  });

  it("settles the tenant's token ledger against the actual usage", async () => {
    const { engine } = setup({ settlement: 'usage', tenantLimits: only({ a: { tpm: 6000 } }) });
    await engine.execute(req('a', 1000), async () => ({ ...ok(), usage: { totalTokens: 400 } }));
    const stats = await engine.laneStats(LANE, 'a');
    expect(stats!.tenant!.buckets).toEqual([
      expect.objectContaining({ id: 'tenant:a:tokens/60000', limit: 6000, capacity: 6000, level: 400 }),
    ]);
  });

  it('applies a fixed tenantLimits object to every tenant, each with buckets of its own', async () => {
    const { clock, sent, run } = setup({ tenantLimits: { rpm: 60, burstMs: 1000 } });
    const all = [run('a'), run('a'), run('b'), run('b'), run('default')];
    await clock.runAll();
    await Promise.all(all);
    expect(sent).toEqual({ a: [0, 1000], b: [0, 1000], default: [0] });
  });

  it('checks tenant limits: a fixed object when the engine is built, a function naming lane and tenant', async () => {
    expect(() => new Engine({ tenantLimits: { rpm: -1 } })).toThrow(
      'Expected `tenantLimits.rpm` to be a finite number above 0, got -1.',
    );
    const { run } = setup({ tenantLimits: only({ 'app one': { maxConcurrency: 0 } }) });
    await expect(run('app one')).rejects.toThrow(
      'Expected `tenantLimits(http://up|k|m, "app one").maxConcurrency` to be a whole number from 1 up, got 0.',
    );
  });
});
