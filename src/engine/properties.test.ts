/**
 * Invariants, checked over random arrival patterns and costs (fast-check).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import type { Priority } from './events.js';
import { AdmissionQueue, type Queued } from './queue.js';

const lane = { upstream: 'u', keyFingerprint: 'k', model: 'm' };

describe('admission never exceeds the limits', () => {
  it('in any interval, admitted cost ≤ burst capacity + rate × interval, for requests and tokens', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rpm: fc.integer({ min: 6, max: 600 }),
          tpm: fc.integer({ min: 1000, max: 100_000 }),
          burstMs: fc.integer({ min: 1000, max: 60_000 }),
          arrivals: fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 1000 })), {
            minLength: 1,
            maxLength: 40,
          }),
        }),
        async ({ rpm, tpm, burstMs, arrivals }) => {
          const clock = new ManualClock(0);
          const engine = new Engine({ clock, limits: { rpm, tpm, burstMs } });
          const admitted: { at: number; tokens: number }[] = [];
          const all: Promise<unknown>[] = [];
          const sorted = [...arrivals].sort((a, b) => a[0] - b[0]);
          let now = 0;
          for (const [at, tokens] of sorted) {
            await clock.advance(at - now);
            now = at;
            all.push(
              engine
                .execute(
                  { lane, cost: { promptTokens: tokens, completionTokens: 0, n: 1, maxGiven: true } },
                  async () => {
                    admitted.push({ at: clock.now(), tokens });
                    return { status: 200, headers: {}, value: null };
                  },
                )
                .catch(() => undefined),
            );
          }
          await clock.runAll();
          await Promise.all(all);
          const rCap = Math.max(1, (rpm * burstMs) / 60_000);
          const tCap = Math.max(1, (tpm * burstMs) / 60_000);
          for (let i = 0; i < admitted.length; i++) {
            let requests = 0;
            let tokens = 0;
            for (let j = i; j < admitted.length; j++) {
              requests += 1;
              tokens += admitted[j]!.tokens;
              const span = admitted[j]!.at - admitted[i]!.at;
              expect(requests).toBeLessThanOrEqual(rCap + (span * rpm) / 60_000 + 1e-6);
              expect(tokens).toBeLessThanOrEqual(tCap + (span * tpm) / 60_000 + 1e-6);
            }
          }
          // Everything that could fit was admitted (nothing lost): only requests larger than the capacity fail.
          expect(admitted.length).toBe(sorted.filter(([, t]) => t <= tCap).length);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('tenant sub-limits', () => {
  /** Checks that in every interval the entries admitted cost ≤ capacity + rate × interval. */
  function withinLimit(
    admitted: readonly { at: number; tokens: number }[],
    rpm: number,
    tpm: number,
    burstMs: number,
  ): void {
    const rCap = Math.max(1, (rpm * burstMs) / 60_000);
    const tCap = Math.max(1, (tpm * burstMs) / 60_000);
    for (let i = 0; i < admitted.length; i++) {
      let requests = 0;
      let tokens = 0;
      for (let j = i; j < admitted.length; j++) {
        requests += 1;
        tokens += admitted[j]!.tokens;
        const span = admitted[j]!.at - admitted[i]!.at;
        expect(requests).toBeLessThanOrEqual(rCap + (span * rpm) / 60_000 + 1e-6);
        expect(tokens).toBeLessThanOrEqual(tCap + (span * tpm) / 60_000 + 1e-6);
      }
    }
  }

  it('a tenant never exceeds its sub-limit nor the lane its limit, and with room on the lane the other tenants never wait', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          a: fc.record({
            rpm: fc.integer({ min: 6, max: 600 }),
            tpm: fc.integer({ min: 1000, max: 100_000 }),
            burstMs: fc.integer({ min: 1000, max: 60_000 }),
          }),
          lane: fc.record({
            rpm: fc.integer({ min: 6, max: 1200 }),
            tpm: fc.integer({ min: 1000, max: 200_000 }),
            burstMs: fc.integer({ min: 1000, max: 60_000 }),
          }),
          roomy: fc.boolean(),
          arrivals: fc.array(
            fc.record({
              at: fc.integer({ min: 0, max: 5000 }),
              tenant: fc.constantFrom('a', 'a', 'a', 'b', 'c'),
              tokens: fc.integer({ min: 1, max: 1000 }),
            }),
            { minLength: 1, maxLength: 50 },
          ),
        }),
        async ({ a, lane: laneLimits, roomy, arrivals }) => {
          const sorted = [...arrivals].sort((x, y) => x.at - y.at);
          const others = sorted.filter((r) => r.tenant !== 'a');
          const capA = {
            r: Math.max(1, (a.rpm * a.burstMs) / 60_000),
            t: Math.max(1, (a.tpm * a.burstMs) / 60_000),
          };
          const limits = roomy
            ? {
                // Room on the lane for all of a's burst and everyone else's requests at once, refilled at least as fast.
                rpm: Math.max(laneLimits.rpm, a.rpm, Math.ceil(capA.r) + others.length),
                tpm: Math.max(
                  laneLimits.tpm,
                  a.tpm,
                  Math.ceil(capA.t) + others.reduce((n, r) => n + r.tokens, 0),
                ),
                burstMs: 60_000,
              }
            : laneLimits;
          const clock = new ManualClock(0);
          const engine = new Engine({
            clock,
            limits,
            learnLimits: false,
            safetyMarginMs: 0,
            tenantLimits: (_lane, tenant) => (tenant === 'a' ? a : undefined),
          });
          const admitted: { at: number; tenant: string; tokens: number; arrived: number }[] = [];
          const all: Promise<unknown>[] = [];
          let now = 0;
          for (const { at, tenant, tokens } of sorted) {
            await clock.advance(at - now);
            now = at;
            all.push(
              engine
                .execute(
                  { lane, tenant, cost: { promptTokens: tokens, completionTokens: 0, n: 1, maxGiven: true } },
                  async () => {
                    admitted.push({ at: clock.now(), tenant, tokens, arrived: at });
                    return { status: 200, headers: {}, value: null };
                  },
                )
                .catch(() => undefined),
            );
          }
          await clock.runAll();
          await Promise.all(all);
          withinLimit(
            admitted.filter((r) => r.tenant === 'a'),
            a.rpm,
            a.tpm,
            a.burstMs,
          );
          withinLimit(admitted, limits.rpm, limits.tpm, limits.burstMs);
          // Only requests larger than a capacity fail.
          const tCapLane = Math.max(1, (limits.tpm * limits.burstMs) / 60_000);
          const fits = (r: { tenant: string; tokens: number }) =>
            r.tokens <= tCapLane && (r.tenant !== 'a' || r.tokens <= capA.t);
          expect(admitted.length).toBe(sorted.filter(fits).length);
          if (roomy) {
            for (const r of admitted) if (r.tenant !== 'a') expect(r.at - r.arrived).toBeLessThan(1e-6);
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('the queue never starves a class or a tenant', () => {
  interface E extends Queued {
    seq: number;
  }
  const priorities: Priority[] = ['interactive', 'default', 'batch'];

  it('serves every class within a bounded number of admissions, FIFO within a tenant', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 })), {
          minLength: 1,
          maxLength: 400,
        }),
        (entries) => {
          const q = new AdmissionQueue<E>();
          entries.forEach(([p, t], seq) =>
            q.add({ priority: priorities[p]!, tenant: `t${t}`, weight: 1, share: 1, cancelled: false, seq }),
          );
          const out: E[] = [];
          for (let e = q.shift(); e; e = q.shift()) out.push(e);
          expect(out.length).toBe(entries.length);
          // FIFO within (class, tenant).
          const last = new Map<string, number>();
          for (const e of out) {
            const key = `${e.priority}/${e.tenant}`;
            expect(e.seq).toBeGreaterThan(last.get(key) ?? -1);
            last.set(key, e.seq);
          }
          // The first admission of each present class comes within 1000 + 30 + 1 admissions.
          for (const p of priorities) {
            const first = out.findIndex((e) => e.priority === p);
            if (first >= 0) expect(first).toBeLessThanOrEqual(1031);
          }
        },
      ),
    );
  });

  it('still admits batch work under a sustained interactive flood', () => {
    const q = new AdmissionQueue<E>();
    q.add({ priority: 'batch', tenant: 'b', weight: 1, share: 1, cancelled: false, seq: -1 });
    let position = -1;
    for (let i = 0; i < 5000 && position < 0; i++) {
      q.add({ priority: 'interactive', tenant: 'i', weight: 1, share: 1, cancelled: false, seq: i });
      q.add({ priority: 'interactive', tenant: 'i', weight: 1, share: 1, cancelled: false, seq: i });
      if (q.shift()!.priority === 'batch') position = i;
    }
    expect(position).toBeGreaterThan(0);
    expect(position).toBeLessThanOrEqual(1001);
  });
});
