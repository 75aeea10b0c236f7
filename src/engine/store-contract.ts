/**
 * The contract every Store must keep, as a reusable test suite: each store's test file calls
 * `storeContract(name, make)` and runs the very same cases. Time is passed in, so the cases are exact.
 * Not a test file itself (it has no cases of its own) and not part of the build (it imports vitest).
 */
import { describe, expect, it } from 'vitest';
import { bucket, MINUTE_MS, type BucketSpec } from './limits.js';
import { PRIORITY_GRACE_MS, PRIORITY_POLL_MS, type Claim, type Store } from './store.js';

/** What the contract may ask of a store it makes: how long an unreleased concurrency lease lasts. */
export interface ContractStoreOptions {
  leaseMs: number;
}

export function storeContract(
  name: string,
  make: (options?: ContractStoreOptions) => Promise<Store> | Store,
): void {
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

    it("refunds never below the server's last word, which drains like a level; adjusts may", async () => {
      const store = await make();
      const refund = store.refund!.bind(store);
      const tokens = async (l: string, at: number) =>
        (await store.snapshot(l, buckets, at)).levels['tokens/60000'];
      const l = lane();
      await store.reserve(l, buckets, { tokens: 1000 }, 0);
      await store.raise(l, buckets, { 'tokens/60000': 3000 }, 0);
      await store.reserve(l, buckets, { tokens: 500 }, 0);
      await refund(l, buckets, { tokens: 1000 }, 0);
      expect(await tokens(l, 0)).toBeCloseTo(3000);
      // 6,000 a minute drain 1,000 in 10 s, from the level and the server's word alike.
      await refund(l, buckets, { tokens: 500 }, 10_000);
      expect(await tokens(l, 10_000)).toBeCloseTo(2000);
      await store.adjust(l, buckets, { tokens: 500 }, 10_000);
      await refund(l, buckets, { tokens: 400 }, 10_000);
      expect(await tokens(l, 10_000)).toBeCloseTo(2100);
      await refund(l, buckets, { tokens: 100 }, 30_000);
      expect(await tokens(l, 30_000)).toBeCloseTo(0);

      // A word below the level raises nothing, but still bounds a later refund; a settlement's adjust
      // (the server settles too) goes below it.
      const m = lane();
      await store.reserve(m, buckets, { tokens: 4000 }, 0);
      await store.raise(m, buckets, { 'tokens/60000': 2000 }, 0);
      expect(await tokens(m, 0)).toBeCloseTo(4000);
      await refund(m, buckets, { tokens: 4000 }, 0);
      expect(await tokens(m, 0)).toBeCloseTo(2000);
      await store.adjust(m, buckets, { tokens: -1500 }, 0);
      expect(await tokens(m, 0)).toBeCloseTo(500);
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

    it("drains levels at the store's learned limits for a caller behind its version, at the caller's otherwise", async () => {
      const store = await make();
      if (!store.learn) return;
      const l = lane();
      const holds = (learned: number): Claim => ({ rank: 1, own: 0, last: true, owner: 'A', learned });
      // Version 1 learned 60 requests a minute (1 a second); a caller still on version 0 has 120 (2 a
      // second). Its tokens bucket, which the learning does not name, drains at its own rate.
      await store.learn(l, 0, { buckets: [bucket('requests', 60, MINUTE_MS)], tightened: {} }, 0);
      const older = [bucket('requests', 120, MINUTE_MS), bucket('tokens', 6000, MINUTE_MS)];
      const levels = async (at: number, learned?: number) =>
        Object.values((await store.snapshot(l, older, at, learned)).levels);
      expect((await store.reserve(l, older, { requests: 30, tokens: 3000 }, 0, holds(1))).ok).toBe(true);
      expect(await levels(10_000, 0)).toEqual([expect.closeTo(20), expect.closeTo(2000)]);
      // The same version, a newer one, or none named: the limits the caller passes.
      for (const learned of [1, 2, undefined]) {
        expect(await levels(10_000, learned)).toEqual([expect.closeTo(10), expect.closeTo(2000)]);
      }
      // The stale caller's reservation, settlement and refund drain at 1 a second too.
      expect((await store.reserve(l, older, { requests: 10 }, 10_000, holds(0))).ok).toBe(true);
      await store.adjust(l, older, { requests: 5 }, 15_000, 0);
      await store.refund?.(l, older, { requests: 5 }, 20_000, 0);
      expect((await levels(25_000, 0))[0]).toBeCloseTo(15);
      // And so does its wait: 15 + 115 is 10 over its capacity of 120, 10 s at 1 a second.
      const refused = await store.reserve(l, older, { requests: 115 }, 25_000, holds(0));
      expect(refused).toMatchObject({ ok: false, blockedBy: 'requests/60000' });
      expect(refused.waitMs).toBeCloseTo(10_000);
      // A stale caller's raise compares with the level drained at 1 a second: 15 is not above it, so
      // nothing is written (at 2 a second it would be; the level there is 10).
      await store.raise(l, older, { 'requests/60000': 15 }, 25_000, 0);
      expect((await levels(25_000, 1))[0]).toBeCloseTo(10);
      await store.close?.();
    });

    // Claims of two callers ("processes"): A waits at a higher class, B floods at a lower one.
    const claim = (rank: number, extra: Partial<Claim> = {}): Claim => {
      const base: Claim = { rank, own: 0, last: false, owner: rank === 0 ? 'A' : 'B' };
      return Object.assign(base, extra);
    };
    const perMinute = [bucket('requests', 60, MINUTE_MS, 1000)];

    it('leases at most `max` concurrency slots, frees one on release, and lets an unreleased lease lapse', async () => {
      const store = await make({ leaseMs: 10_000 });
      const l = lane();
      const slot = (id: string) => claim(1, { slot: { id, max: 2 } });
      expect((await store.reserve(l, buckets, { requests: 1 }, 0, slot('a'))).ok).toBe(true);
      expect((await store.reserve(l, buckets, { requests: 1 }, 0, slot('b'))).ok).toBe(true);
      const full = await store.reserve(l, buckets, { requests: 1 }, 1000, slot('c'));
      expect(full).toMatchObject({ ok: false, blockedBy: 'concurrency' });
      expect(full.waitMs).toBeGreaterThan(0);
      expect(full.waitMs).toBeLessThanOrEqual(PRIORITY_POLL_MS);
      // A refusal by slots charges no bucket.
      expect((await store.snapshot(l, buckets, 1000)).levels['requests/60000']).toBeCloseTo(1);
      await store.release!(l, 'a', 1000);
      await store.release!(l, 'a', 1000);
      expect((await store.reserve(l, buckets, { requests: 1 }, 1000, slot('c'))).ok).toBe(true);
      expect((await store.reserve(l, buckets, { requests: 1 }, 2000, slot('d'))).ok).toBe(false);
      // 'b' and 'c' were never released: as if their process died, they lapse after the lease.
      expect((await store.reserve(l, buckets, { requests: 1 }, 11_001, slot('d'))).ok).toBe(true);
      expect((await store.reserve(l, buckets, { requests: 1 }, 11_001, slot('e'))).ok).toBe(true);
      expect((await store.reserve(l, buckets, { requests: 1 }, 11_001, slot('f'))).ok).toBe(false);
      await store.close?.();
    });

    // A tenant's set of leases beside the lane's: one lease per attempt, in every set its claim names.
    const roomy = [bucket('requests', 6000, MINUTE_MS)];
    const tenantSlot = (id: string, tenant: string, max: number, laneMax?: number, rank = 1): Claim =>
      claim(rank, {
        slot: {
          id,
          tenant: { id: `tenant:${tenant}:concurrency`, max },
          ...(laneMax === undefined ? {} : { max: laneMax }),
        },
      });

    it("leases at most a tenant's `max` in its own set, names the set when it is full, and charges nothing then", async () => {
      const store = await make();
      const l = lane();
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a1', 'a', 2))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a2', 'a', 2))).ok).toBe(true);
      const full = await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a3', 'a', 2));
      expect(full).toMatchObject({ ok: false, blockedBy: 'tenant:a:concurrency' });
      expect(full.waitMs).toBeGreaterThan(0);
      expect(full.waitMs).toBeLessThanOrEqual(PRIORITY_POLL_MS);
      expect((await store.snapshot(l, roomy, 0)).levels['requests/60000']).toBeCloseTo(2);
      // Another tenant's set, and requests of no tenant, are not counted in it.
      expect((await store.reserve(l, roomy, { requests: 1 }, 1000, tenantSlot('b1', 'b', 1))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 1000, claim(1))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 1000, tenantSlot('b2', 'b', 1))).ok).toBe(false);
      await store.release!(l, 'a1', 1000);
      await store.release!(l, 'a1', 1000);
      expect((await store.reserve(l, roomy, { requests: 1 }, 1000, tenantSlot('a3', 'a', 2))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 1000, tenantSlot('a4', 'a', 2))).ok).toBe(false);
      await store.close?.();
    });

    it("leases a slot in the tenant's set and the lane's together, and gives back both on release", async () => {
      const store = await make();
      const l = lane();
      // The lane holds 2 at once; tenant a 2, tenant b 1.
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a1', 'a', 2, 2))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('b1', 'b', 1, 2))).ok).toBe(true);
      // a's set has room, the lane's does not.
      expect(await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a2', 'a', 2, 2))).toMatchObject({
        ok: false,
        blockedBy: 'concurrency',
      });
      // b's own set is full as well: the tenant's limit is named, it is what b waits for.
      expect(await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('b2', 'b', 1, 2))).toMatchObject({
        ok: false,
        blockedBy: 'tenant:b:concurrency',
      });
      await store.release!(l, 'b1', 0);
      // b1 left both sets: b may lease again, and then the lane is full again.
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('b2', 'b', 1, 2))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a2', 'a', 2, 2))).ok).toBe(false);
      await store.close?.();
    });

    it("lets an unreleased lease in a tenant's set lapse, and forgets the tenant's leases on clear", async () => {
      const store = await make({ leaseMs: 10_000 });
      const l = lane();
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a1', 'a', 1, 5))).ok).toBe(true);
      expect((await store.reserve(l, roomy, { requests: 1 }, 9000, tenantSlot('a2', 'a', 1, 5))).ok).toBe(
        false,
      );
      // As if a1's process died: its lease lapses in the tenant's set and the lane's.
      expect((await store.reserve(l, roomy, { requests: 1 }, 10_001, tenantSlot('a2', 'a', 1, 5))).ok).toBe(
        true,
      );
      await store.clear(l);
      expect((await store.reserve(l, roomy, { requests: 1 }, 10_001, tenantSlot('a3', 'a', 1, 5))).ok).toBe(
        true,
      );
      await store.close?.();
    });

    it("registers no priority wait for a request refused by its tenant's own slots", async () => {
      const store = await make();
      const l = lane();
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a1', 'a', 1, 5, 0))).ok).toBe(
        true,
      );
      const held = await store.reserve(l, roomy, { requests: 1 }, 0, tenantSlot('a2', 'a', 1, 5, 0));
      expect(held).toMatchObject({ ok: false, blockedBy: 'tenant:a:concurrency' });
      // Interactive tenant a is over its own limit; batch work of another process still goes.
      expect((await store.reserve(l, roomy, { requests: 1 }, 0, claim(2))).ok).toBe(true);
      await store.close?.();
    });

    it('refuses a tripped lane until its probe, admits one probe per interval, and untrips', async () => {
      const store = await make();
      const l = lane();
      await store.trip!(l, { message: 'quota gone', code: 'insufficient_quota' }, 5000, 0);
      const refused = await store.reserve(l, buckets, { requests: 1 }, 1000);
      expect(refused).toMatchObject({
        ok: false,
        blockedBy: 'tripped',
        trip: { message: 'quota gone', code: 'insufficient_quota' },
      });
      expect(refused.waitMs).toBeCloseTo(4000);
      expect(await store.reserve(l, buckets, { requests: 1 }, 5000)).toMatchObject({ ok: true, probe: true });
      const next = await store.reserve(l, buckets, { requests: 1 }, 5001);
      expect(next).toMatchObject({ ok: false, blockedBy: 'tripped' });
      expect(next.waitMs).toBeCloseTo(4999);
      await store.untrip!(l, 5001);
      expect((await store.reserve(l, buckets, { requests: 1 }, 5001)).ok).toBe(true);
      await store.trip!(l, { message: 'again' }, 5000, 6000);
      await store.clear(l);
      expect((await store.reserve(l, buckets, { requests: 1 }, 6000)).ok).toBe(true);
      await store.close?.();
    });

    it('keeps learned limits versioned: a writer holding an older version cannot overwrite', async () => {
      const store = await make();
      const l = lane();
      expect(await store.learn!(l, 0, undefined, 0)).toEqual({ applied: false, version: 0 });
      const first = { buckets: [bucket('tokens', 6000, MINUTE_MS)], tightened: {} };
      const second = { buckets: [bucket('tokens', 9000, MINUTE_MS)], tightened: { 'tokens/60000': 8000 } };
      expect(await store.learn!(l, 0, first, 0)).toEqual({ applied: true, version: 1, record: first });
      // A stale writer (still at version 0) is refused and told what is stored.
      expect(await store.learn!(l, 0, second, 0)).toEqual({ applied: false, version: 1, record: first });
      expect(await store.learn!(l, 1, second, 0)).toEqual({ applied: true, version: 2, record: second });
      expect((await store.reserve(l, buckets, { requests: 1 }, 0)).learned).toBe(2);
      // An operator reset clears the lane's state, not what was learned.
      await store.clear(l);
      expect(await store.learn!(l, 0, undefined, 0)).toEqual({ applied: false, version: 2, record: second });
      await store.close?.();
    });

    it('makes lower classes yield while a higher class waits on the lane, until it is admitted', async () => {
      const store = await make();
      const l = lane();
      // One request per second, room for one.
      expect((await store.reserve(l, perMinute, { requests: 1 }, 0, claim(2))).ok).toBe(true);
      const interactive = await store.reserve(l, perMinute, { requests: 1 }, 0, claim(0, { last: true }));
      expect(interactive).toMatchObject({ ok: false, blockedBy: 'requests/60000' });
      expect(interactive.waitMs).toBeCloseTo(1000);
      // At 1000 ms the room is free; batch and default yield to the interactive request that waits for it.
      for (const rank of [2, 1]) {
        const r = await store.reserve(l, perMinute, { requests: 1 }, 1000, claim(rank));
        expect(r.ok).toBe(false);
        expect(r.blockedBy).toBe('priority');
        expect(r.waitMs).toBeLessThanOrEqual(PRIORITY_POLL_MS);
      }
      // Before it is due, they wait until it is due.
      expect((await store.reserve(l, perMinute, { requests: 1 }, 400, claim(2))).waitMs).toBeCloseTo(600);
      expect((await store.reserve(l, perMinute, { requests: 1 }, 1000, claim(0, { last: true }))).ok).toBe(
        true,
      );
      // The last interactive request went: batch goes next.
      expect((await store.reserve(l, perMinute, { requests: 1 }, 2000, claim(2))).ok).toBe(true);
      // A caller never yields to its own waits (its queue orders its classes).
      const l2 = lane();
      await store.reserve(l2, perMinute, { requests: 1 }, 0, claim(0));
      expect((await store.reserve(l2, perMinute, { requests: 1 }, 0, claim(0))).ok).toBe(false);
      expect((await store.reserve(l2, perMinute, { requests: 1 }, 1000, claim(2, { owner: 'A' }))).ok).toBe(
        true,
      );
      await store.close?.();
    });

    it('lets a registered wait lapse when the higher class never comes back, and ignores waits on a tenant bucket', async () => {
      const store = await make();
      const l = lane();
      await store.reserve(l, perMinute, { requests: 1 }, 0, claim(0));
      expect((await store.reserve(l, perMinute, { requests: 1 }, 0, claim(0))).ok).toBe(false);
      expect((await store.reserve(l, perMinute, { requests: 1 }, 1000, claim(2))).blockedBy).toBe('priority');
      expect(
        (await store.reserve(l, perMinute, { requests: 1 }, 1000 + PRIORITY_GRACE_MS, claim(2))).ok,
      ).toBe(true);
      // An interactive tenant over its own sub-limit holds up nobody else.
      const l2 = lane();
      const tenant = { ...bucket('requests', 6, MINUTE_MS, 10_000), id: 'tenant:a:requests/60000' };
      const both = [tenant, ...buckets];
      await store.reserve(l2, both, { requests: 1 }, 0, claim(0, { own: 1 }));
      const own = await store.reserve(l2, both, { requests: 1 }, 0, claim(0, { own: 1 }));
      expect(own).toMatchObject({ ok: false, blockedBy: 'tenant:a:requests/60000' });
      expect((await store.reserve(l2, buckets, { requests: 1 }, 0, claim(2))).ok).toBe(true);
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
