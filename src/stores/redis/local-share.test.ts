import { describe, expect, it } from 'vitest';
import { bucket, DAY_MS, MINUTE_MS } from '../../engine/limits.js';
import { LocalShare } from './local-share.js';

describe('LocalShare', () => {
  it('admits limit ÷ divisor, then waits at the share’s rate', () => {
    const share = new LocalShare();
    share.divisor = 4;
    const specs = [bucket('requests', 100, MINUTE_MS)];
    let admitted = 0;
    while (share.reserve('l', specs, { requests: 1 }, 0).ok) admitted++;
    expect(admitted).toBe(25);
    // 25 per minute: one unit drains every 2.4 s.
    expect(share.reserve('l', specs, { requests: 1 }, 0).waitMs).toBeCloseTo(2400, 6);
    expect(share.reserve('l', specs, { requests: 1 }, 2400).ok).toBe(true);
  });

  it('admits a request larger than the share alone once the share is empty, never above the real capacity', () => {
    const share = new LocalShare();
    share.divisor = 4;
    const specs = [bucket('tokens', 1000, MINUTE_MS)];
    expect(share.reserve('l', specs, { tokens: 600 }, 0).ok).toBe(true);
    const refused = share.reserve('l', specs, { tokens: 600 }, 0);
    expect(refused.ok).toBe(false);
    // 600 units drain at 250 per minute.
    expect(refused.waitMs).toBeCloseTo(144_000, 3);
    expect(share.reserve('l', specs, { tokens: 600 }, 144_000).ok).toBe(true);
    expect(share.reserve('l', specs, { tokens: 1001 }, 10 * DAY_MS).waitMs).toBe(Infinity);
  });

  it("divides a claim's concurrency slots, the lane's and the tenant's, by the divisor (at least one)", () => {
    const share = new LocalShare();
    share.divisor = 2;
    const specs = [bucket('requests', 6000, MINUTE_MS)];
    const claim = (id: string, tenant: string) => ({
      rank: 1,
      own: 0,
      last: false,
      owner: 'o',
      slot: { id, max: 4, tenant: { id: `tenant:${tenant}:concurrency`, max: 3 } },
    });
    // The tenant's 3 become 1 here; the lane's 4 become 2.
    expect(share.reserve('l', specs, { requests: 1 }, 0, claim('a1', 'a')).ok).toBe(true);
    expect(share.reserve('l', specs, { requests: 1 }, 0, claim('a2', 'a'))).toMatchObject({
      ok: false,
      blockedBy: 'tenant:a:concurrency',
    });
    expect(share.reserve('l', specs, { requests: 1 }, 0, claim('b1', 'b')).ok).toBe(true);
    expect(share.reserve('l', specs, { requests: 1 }, 0, claim('c1', 'c'))).toMatchObject({
      ok: false,
      blockedBy: 'concurrency',
    });
  });

  it('scales the server’s levels down on raise and the snapshot up, and hands back real units', () => {
    const share = new LocalShare();
    share.divisor = 2;
    const specs = [bucket('tokens', 1000, MINUTE_MS)];
    share.reserve('l', specs, { tokens: 100 }, 0);
    share.raise('l', specs, { 'tokens/60000': 400 }, 0);
    expect(share.peek('l', 0)?.levels['tokens/60000']).toBeCloseTo(200);
    expect(share.snapshot('l', specs, 0).levels['tokens/60000']).toBeCloseTo(400);
    share.cooldown('l', 5000, 0);
    expect(share.peek('l', 1000)).toMatchObject({ cooldownUntil: 5000 });
    expect(share.lanes()).toEqual(['l']);
    share.clear('l');
    expect(share.peek('l', 0)).toBeUndefined();
  });

  it('starts a lane from its share of what Redis last reported, and hands back only what it added', () => {
    const share = new LocalShare();
    share.divisor = 2;
    const specs = [bucket('requests', 10, DAY_MS)];
    // Redis said 6 of 10 were in use: this instance's share of that is 3 of its 5.
    share.seed('l', specs, { 'requests/86400000': 6 }, 0);
    let admitted = 0;
    while (share.reserve('l', specs, { requests: 1 }, 0).ok) admitted++;
    expect(admitted).toBe(2);
    expect(share.peek('l', 0)?.levels['requests/86400000']).toBeCloseTo(2);
    // A seed is only for a lane without local state.
    share.seed('l', specs, { 'requests/86400000': 0 }, 0);
    expect(share.peek('l', 0)?.levels['requests/86400000']).toBeCloseTo(2);
  });
});
