import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Priority } from './events.js';
import { AdmissionQueue, type Queued } from './queue.js';

interface E extends Queued {
  name: string;
}

function entry(name: string, tenant: string, priority: Priority = 'default'): E {
  return { name, priority, tenant, weight: 1, share: 1, cancelled: false };
}

function fill(q: AdmissionQueue<E>, tenant: string, n: number, priority: Priority = 'default'): void {
  for (let i = 1; i <= n; i++) q.add(entry(`${tenant}${i}`, tenant, priority));
}

function shiftAll(q: AdmissionQueue<E>, n: number, now = -Infinity): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(q.shift(now)?.name ?? '-');
  return out;
}

describe('holding a tenant', () => {
  it("skips a held tenant's entries and admits the next tenant's, until the hold ends", () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 2);
    fill(q, 'b', 1);
    q.hold('a', 100);
    expect(q.peek(50)?.name).toBe('b1');
    expect(shiftAll(q, 2, 50)).toEqual(['b1', '-']);
    expect(q.size).toBe(2);
    expect(q.peek(100)?.name).toBe('a1');
    expect(shiftAll(q, 2, 100)).toEqual(['a1', 'a2']);
  });

  it('holds the tenant in every class, and a lower class goes while a higher one is held', () => {
    const q = new AdmissionQueue<E>();
    q.add(entry('a-interactive', 'a', 'interactive'));
    q.add(entry('a-batch', 'a', 'batch'));
    q.add(entry('b-batch', 'b', 'batch'));
    q.hold('a', 100);
    expect(shiftAll(q, 2, 0)).toEqual(['b-batch', '-']);
    expect(shiftAll(q, 2, 100)).toEqual(['a-interactive', 'a-batch']);
  });

  it('keeps class order among the tenants not held: interactive still overtakes batch', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'b', 3, 'batch');
    fill(q, 'a', 3, 'interactive');
    q.hold('a', 100);
    q.add(entry('c1', 'c', 'interactive'));
    expect(shiftAll(q, 2, 0)).toEqual(['c1', 'b1']);
  });

  it('holds until unhold when the hold has no end', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 1);
    q.hold('a', Infinity);
    expect(q.peek(1e15)).toBeUndefined();
    expect(q.holdEnd(0)).toBe(Infinity);
    q.unhold('a');
    expect(q.peek(0)?.name).toBe('a1');
  });

  it('tells the earliest end of a hold still running, forgetting those that ended', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 1);
    fill(q, 'b', 1);
    fill(q, 'c', 1);
    q.hold('a', 300);
    q.hold('b', 200);
    q.hold('c', Infinity);
    expect(q.holdEnd(0)).toBe(200);
    expect(q.holdEnd(200)).toBe(300);
    expect(q.holdEnd(300)).toBe(Infinity);
  });

  it('ends every hold when the queue empties', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 1);
    fill(q, 'b', 1);
    q.hold('a', 100);
    expect(q.shift(0)?.name).toBe('b1');
    q.cancel(q.peek(100)!);
    expect(q.size).toBe(0);
    q.add(entry('a2', 'a'));
    expect(q.peek(0)?.name).toBe('a2');
  });

  it('brings a held tenant back at the current virtual time, not ahead by the turns it missed', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 10);
    fill(q, 'b', 10);
    q.hold('a', 100);
    expect(shiftAll(q, 5, 0)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    // Without the catch-up rule a1…a5 would all go before b6.
    expect(shiftAll(q, 5, 100)).toEqual(['a1', 'a2', 'b6', 'a3', 'b7']);
  });

  it('brings a held class back at the current virtual time: batch does not get a run of turns', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'd', 100, 'default');
    fill(q, 'x', 3, 'batch');
    q.hold('x', 100);
    shiftAll(q, 60, 0);
    // Batch's pass stood still for 60 default admissions (2 batch turns' worth); it gets one, not three.
    expect(shiftAll(q, 3, 100).map((n) => n[0])).toEqual(['x', 'd', 'd']);
  });

  it('leaves held tenants other than the asker out of the entries ahead', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 3);
    fill(q, 'b', 1);
    q.hold('a', 100);
    expect([...q.ahead('default', 'b', 0)].map((e) => e.name)).toEqual(['b1']);
    expect([...q.ahead('default', 'a', 0)].map((e) => e.name)).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect([...q.ahead('default', 'b', 100)].map((e) => e.name)).toEqual(['a1', 'a2', 'a3', 'b1']);
  });

  it('never hands out a held tenant, keeps FIFO per tenant and loses nothing, for random holds', () => {
    const priorities: Priority[] = ['interactive', 'default', 'batch'];
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const), p: fc.nat(2), t: fc.nat(3) }),
            fc.record({
              op: fc.constant('hold' as const),
              t: fc.nat(3),
              ms: fc.integer({ min: 1, max: 50 }),
            }),
            fc.record({ op: fc.constant('shift' as const), ms: fc.integer({ min: 0, max: 20 }) }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const q = new AdmissionQueue<E & { seq: number }>();
          const holds = new Map<string, number>();
          let now = 0;
          let seq = 0;
          let added = 0;
          const out: (E & { seq: number })[] = [];
          for (const o of ops) {
            if (o.op === 'add') {
              q.add({ ...entry(`e${seq}`, `t${o.t}`, priorities[o.p]), seq: seq++ });
              added++;
            } else if (o.op === 'hold') {
              q.hold(`t${o.t}`, now + o.ms);
              holds.set(`t${o.t}`, now + o.ms);
            } else {
              now += o.ms;
              const e = q.shift(now);
              if (e) {
                expect(holds.get(e.tenant) ?? -Infinity).toBeLessThanOrEqual(now);
                out.push(e);
              } else if (q.size > 0) {
                // Nothing eligible: every tenant with entries is held.
                for (const h of q.entries()) expect(holds.get(h.tenant)!).toBeGreaterThan(now);
              }
              if (e && q.size === 0) holds.clear();
            }
          }
          for (let e = q.shift(Infinity); e; e = q.shift(Infinity)) out.push(e);
          expect(out.length).toBe(added);
          const last = new Map<string, number>();
          for (const e of out) {
            const key = `${e.priority}/${e.tenant}`;
            expect(e.seq).toBeGreaterThan(last.get(key) ?? -1);
            last.set(key, e.seq);
          }
        },
      ),
    );
  });
});

describe('queue sizes', () => {
  it('counts live entries per class without walking the queue', () => {
    const q = new AdmissionQueue<E>();
    fill(q, 'a', 3, 'interactive');
    fill(q, 'b', 2, 'batch');
    const b1 = q.peek();
    q.cancel([...q.entries()].find((e) => e.name === 'b2')!);
    expect(b1?.name).toBe('a1');
    expect(q.sizes()).toEqual({ interactive: 3, default: 0, batch: 1 });
    q.shift();
    expect(q.sizes()).toEqual({ interactive: 2, default: 0, batch: 1 });
  });
});
