/**
 * The contract every Store must keep, as a reusable test suite: each store's test file calls
 * `storeContract(name, make)` and runs the very same cases. Time is passed in, so the cases are exact.
 * Not a test file itself (it has no cases of its own) and not part of the build (it imports vitest).
 */
import { describe, expect, it } from 'vitest';
import { bucket, MINUTE_MS, type BucketSpec } from './limits.js';
import type { Store } from './store.js';

export function storeContract(name: string, make: () => Promise<Store> | Store): void {
  const buckets: BucketSpec[] = [bucket('requests', 60, MINUTE_MS, 2000), bucket('tokens', 6000, MINUTE_MS)];
  let n = 0;
  const lane = () => `contract-${process.pid}-${Date.now()}-${n++}`;

  describe(`Store contract: ${name}`, () => {
    it('admits while every bucket has room, then says how long to wait', async () => {
      const store = await make();
      const l = lane();
      expect(await store.reserve(l, buckets, { requests: 1, tokens: 100 }, 0)).toMatchObject({ ok: true });
      expect(await store.reserve(l, buckets, { requests: 1, tokens: 100 }, 0)).toMatchObject({ ok: true });
      const refused = await store.reserve(l, buckets, { requests: 1, tokens: 100 }, 0);
      expect(refused.ok).toBe(false);
      expect(refused.waitMs).toBeCloseTo(1000, 3);
      expect(refused.blockedBy).toBe('requests/60000');
      expect(await store.reserve(l, buckets, { requests: 1, tokens: 100 }, 1000)).toMatchObject({ ok: true });
      await store.close?.();
    });

    it('is all-or-nothing: a refusal in one bucket charges no other', async () => {
      const store = await make();
      const l = lane();
      expect((await store.reserve(l, buckets, { requests: 1, tokens: 5900 }, 0)).ok).toBe(true);
      expect((await store.reserve(l, buckets, { requests: 1, tokens: 200 }, 0)).ok).toBe(false);
      const snap = await store.snapshot(l, buckets, 0);
      expect(snap.levels['requests/60000']).toBeCloseTo(1);
      expect(snap.levels['tokens/60000']).toBeCloseTo(5900);
      await store.close?.();
    });

    it('says never (Infinity) for a cost above a capacity', async () => {
      const store = await make();
      const r = await store.reserve(lane(), buckets, { requests: 1, tokens: 7000 }, 0);
      expect(r.ok).toBe(false);
      expect(r.waitMs).toBe(Infinity);
      await store.close?.();
    });

    it('adjusts (refund and extra charge) without going below zero', async () => {
      const store = await make();
      const l = lane();
      await store.reserve(l, buckets, { requests: 1, tokens: 1000 }, 0);
      await store.adjust(l, buckets, { tokens: -400 }, 0);
      expect((await store.snapshot(l, buckets, 0)).levels['tokens/60000']).toBeCloseTo(600);
      await store.adjust(l, buckets, { tokens: -5000 }, 0);
      expect((await store.snapshot(l, buckets, 0)).levels['tokens/60000']).toBeCloseTo(0);
      await store.adjust(l, buckets, { tokens: 250 }, 0);
      expect((await store.snapshot(l, buckets, 0)).levels['tokens/60000']).toBeCloseTo(250);
      await store.close?.();
    });

    it('raises levels to the server view but never lowers them', async () => {
      const store = await make();
      const l = lane();
      await store.reserve(l, buckets, { requests: 1, tokens: 1000 }, 0);
      await store.raise(l, buckets, { 'tokens/60000': 3000, 'requests/60000': 0 }, 0);
      const snap = await store.snapshot(l, buckets, 0);
      expect(snap.levels['tokens/60000']).toBeCloseTo(3000);
      expect(snap.levels['requests/60000']).toBeCloseTo(1);
      await store.close?.();
    });

    it('drains continuously', async () => {
      const store = await make();
      const l = lane();
      await store.reserve(l, buckets, { tokens: 6000 }, 0);
      expect((await store.snapshot(l, buckets, 30_000)).levels['tokens/60000']).toBeCloseTo(3000);
      await store.close?.();
    });

    it('pauses a lane for a cooldown (extended, never shortened) and clears it', async () => {
      const store = await make();
      const l = lane();
      await store.cooldown(l, 5000, 0);
      await store.cooldown(l, 3000, 0);
      const r = await store.reserve(l, buckets, { requests: 1 }, 1000);
      expect(r).toMatchObject({ ok: false, blockedBy: 'cooldown' });
      expect(r.waitMs).toBeCloseTo(4000);
      expect((await store.snapshot(l, buckets, 1000)).cooldownUntil).toBe(5000);
      expect((await store.reserve(l, buckets, { requests: 1 }, 5000)).ok).toBe(true);
      await store.cooldown(l, 9000, 5000);
      await store.clear(l);
      expect((await store.reserve(l, buckets, { requests: 1 }, 5000)).ok).toBe(true);
      await store.close?.();
    });

    it("covers a tenant's buckets beside the lane's in one call, all or nothing", async () => {
      const store = await make();
      const l = lane();
      const tenantA = { ...bucket('requests', 60, MINUTE_MS, 1000), id: 'tenant:a:requests/60000' };
      const withA = [tenantA, ...buckets];
      expect((await store.reserve(l, withA, { requests: 1, tokens: 100 }, 0)).ok).toBe(true);
      const refused = await store.reserve(l, withA, { requests: 1, tokens: 100 }, 0);
      expect(refused).toMatchObject({ ok: false, blockedBy: 'tenant:a:requests/60000' });
      expect(refused.waitMs).toBeCloseTo(1000, 3);
      const snap = await store.snapshot(l, withA, 0);
      expect(snap.levels['tenant:a:requests/60000']).toBeCloseTo(1);
      expect(snap.levels['requests/60000']).toBeCloseTo(1);
      expect(snap.levels['tokens/60000']).toBeCloseTo(100);
      await store.close?.();
    });

    it('touches only the buckets a call names', async () => {
      const store = await make();
      const l = lane();
      const tenantA = { ...bucket('tokens', 1000, MINUTE_MS), id: 'tenant:a:tokens/60000' };
      const tenantB = { ...bucket('tokens', 1000, MINUTE_MS), id: 'tenant:b%20c:tokens/60000' };
      await store.reserve(l, [tenantA, ...buckets], { requests: 1, tokens: 300 }, 0);
      await store.reserve(l, buckets, { requests: 1, tokens: 200 }, 0);
      await store.adjust(l, [tenantB, ...buckets], { tokens: 50 }, 0);
      const snap = await store.snapshot(l, [tenantA, tenantB, ...buckets], 0);
      expect(snap.levels['tenant:a:tokens/60000']).toBeCloseTo(300);
      expect(snap.levels['tenant:b%20c:tokens/60000']).toBeCloseTo(50);
      expect(snap.levels['tokens/60000']).toBeCloseTo(550);
      expect(snap.levels['requests/60000']).toBeCloseTo(2);
      await store.close?.();
    });

    it('names the first of the buckets given when two refuse for equally long', async () => {
      const store = await make();
      const l = lane();
      const a = { ...bucket('requests', 60, MINUTE_MS, 1000), id: 'tenant:a:requests/60000' };
      const b = bucket('requests', 60, MINUTE_MS, 1000);
      await store.reserve(l, [a, b], { requests: 1 }, 0);
      expect(await store.reserve(l, [a, b], { requests: 1 }, 0)).toMatchObject({
        ok: false,
        blockedBy: 'tenant:a:requests/60000',
      });
      expect(await store.reserve(l, [b, a], { requests: 1 }, 0)).toMatchObject({
        ok: false,
        blockedBy: 'requests/60000',
      });
      await store.close?.();
    });

    it("keeps a bucket's level when the spec for its id changes", async () => {
      const store = await make();
      const l = lane();
      await store.reserve(l, buckets, { requests: 1, tokens: 3000 }, 0);
      const wider = [bucket('requests', 120, MINUTE_MS, 2000), bucket('tokens', 12_000, MINUTE_MS)];
      expect((await store.snapshot(l, wider, 0)).levels['tokens/60000']).toBeCloseTo(3000);
      // 12,000 per minute drains 200 a second: after 5 s, 2000 are left.
      expect((await store.snapshot(l, wider, 5000)).levels['tokens/60000']).toBeCloseTo(2000);
      expect((await store.reserve(l, wider, { requests: 1, tokens: 10_000 }, 5000)).ok).toBe(true);
      await store.close?.();
    });

    it('keeps lanes apart', async () => {
      const store = await make();
      const a = lane();
      const b = lane();
      await store.reserve(a, buckets, { tokens: 6000 }, 0);
      expect((await store.reserve(b, buckets, { tokens: 6000 }, 0)).ok).toBe(true);
      await store.close?.();
    });
  });
}
