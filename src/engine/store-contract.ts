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
