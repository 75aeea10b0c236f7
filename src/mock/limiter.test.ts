import { describe, expect, it } from 'vitest';
import { Limiter, type Cost } from './limiter.js';
import { resolveMockOptions, type MockOptions } from './options.js';

const limiter = (options: MockOptions) => new Limiter(resolveMockOptions({ rpm: 0, tpm: 0, ...options }));
const tokens = (n: number): Cost => ({ requests: 1, tokens: n, inputTokens: 0, outputTokens: n });

describe('Limiter', () => {
  it.each([
    [50_000, 47_949, 3006, 1146],
    [10_000, 8782, 8172, 41_724],
    [200_000, 195_869, 4412, 84.3],
  ])('TPM %d, used %d, requested %d: waits %d ms', (tpm, used, requested, wait) => {
    const l = limiter({ tpm });
    const lane = l.lane('k', 'gpt-4o');
    expect(l.admit(lane, tokens(used), 0, 0)).toEqual({ kind: 'admitted' });
    expect(l.admit(lane, tokens(requested), 0, 0)).toEqual({
      kind: 'rate_limited',
      dimension: 'tokens',
      period: 'minute',
      limit: tpm,
      used,
      requested,
      waitMs: wait,
    });
  });

  it('RPM 3 and RPD 200 refuse the next request for 20 s and 7m12s', () => {
    const rpm = limiter({ rpm: 3 });
    const a = rpm.lane('k', 'm');
    for (let i = 0; i < 3; i++) expect(rpm.admit(a, tokens(1), 0, 0).kind).toBe('admitted');
    expect(rpm.admit(a, tokens(1), 0, 0)).toMatchObject({ kind: 'rate_limited', used: 3, waitMs: 20_000 });
    const rpd = limiter({ rpd: 200 });
    const b = rpd.lane('k', 'm');
    for (let i = 0; i < 200; i++) rpd.admit(b, tokens(1), 0, 0);
    expect(rpd.admit(b, tokens(1), 0, 0)).toMatchObject({
      kind: 'rate_limited',
      period: 'day',
      waitMs: 432_000,
    });
  });

  it('is all-or-nothing and reports the refusal with the longest wait', () => {
    const l = limiter({ rpm: 2, tpm: 100 });
    const lane = l.lane('k', 'm');
    expect(l.admit(lane, tokens(90), 0, 0).kind).toBe('admitted');
    // Tokens refuse (wait 30 × 60000/100 = 18 s), requests still fit: nothing is charged.
    expect(l.admit(lane, tokens(40), 0, 0)).toMatchObject({ dimension: 'tokens', waitMs: 18_000 });
    expect(lane.view('requests', 0)?.remaining).toBe(1);
    expect(l.admit(lane, tokens(5), 0, 0).kind).toBe('admitted');
    // Now requests (wait 30 s) and tokens (wait 25 × 600 = 15 s) both refuse: requests win.
    expect(l.admit(lane, tokens(20), 0, 0)).toMatchObject({ dimension: 'requests', waitMs: 30_000 });
  });

  it('keeps lanes apart by key and by model', () => {
    const l = limiter({ rpm: 1 });
    expect(l.admit(l.lane('a', 'm'), tokens(1), 0, 0).kind).toBe('admitted');
    expect(l.admit(l.lane('a', 'm'), tokens(1), 0, 0).kind).toBe('rate_limited');
    expect(l.admit(l.lane('b', 'm'), tokens(1), 0, 0).kind).toBe('admitted');
    expect(l.admit(l.lane('a', 'n'), tokens(1), 0, 0).kind).toBe('admitted');
  });

  it('refuses what can never fit as too large, before anything else but quota', () => {
    const l = limiter({ tpm: 600, burstSeconds: 10, quotaRequests: 1 });
    const lane = l.lane('k', 'm');
    expect(l.admit(lane, tokens(101), 0, 0)).toEqual({
      kind: 'too_large',
      dimension: 'tokens',
      period: 'minute',
      limit: 600,
      requested: 101,
    });
    expect(l.admit(lane, tokens(100), 0, 0).kind).toBe('admitted');
    expect(l.admit(lane, tokens(101), 0, 0).kind).toBe('quota');
  });

  it('runs out of quota per key and stays out', () => {
    const l = limiter({ quotaTokens: 100 });
    const lane = l.lane('k', 'm');
    expect(l.admit(lane, tokens(1), 60, 0).kind).toBe('admitted');
    expect(l.admit(l.lane('k', 'other'), tokens(1), 60, 0).kind).toBe('admitted');
    expect(l.admit(lane, tokens(1), 1, 0).kind).toBe('quota');
    expect(l.admit(lane, tokens(1), 1, 1e9).kind).toBe('quota');
    expect(l.admit(l.lane('j', 'm'), tokens(1), 1, 0).kind).toBe('admitted');
    l.reset();
    expect(l.admit(l.lane('k', 'm'), tokens(1), 1, 0).kind).toBe('admitted');
  });

  it('answers slow_down when a second admits more than factor × the previous one', () => {
    const l = limiter({ slowDownFactor: 2, slowDownMin: 3 });
    const lane = l.lane('k', 'm');
    const kinds = (now: number, n: number) =>
      Array.from({ length: n }, () => l.admit(lane, tokens(1), 0, now).kind);
    expect(kinds(0, 4)).toEqual(['admitted', 'admitted', 'admitted', 'slow_down']);
    expect(l.admit(lane, tokens(1), 0, 250)).toEqual({ kind: 'slow_down', waitMs: 750 });
    // Previous second admitted 3: up to 6 now.
    expect(kinds(1000, 7).filter((k) => k === 'admitted')).toHaveLength(6);
    // A quiet second resets the base to the minimum.
    expect(kinds(3000, 4).filter((k) => k === 'admitted')).toHaveLength(3);
  });

  it('charges refused requests one request with countRejected', () => {
    const l = limiter({ rpm: 2, countRejected: true });
    const lane = l.lane('k', 'm');
    l.admit(lane, tokens(1), 0, 0);
    l.admit(lane, tokens(1), 0, 0);
    expect(l.admit(lane, tokens(1), 0, 0)).toMatchObject({ kind: 'rate_limited', used: 2, waitMs: 30_000 });
    expect(l.admit(lane, tokens(1), 0, 0)).toMatchObject({ kind: 'rate_limited', used: 3, waitMs: 60_000 });
  });

  it('settles the token charge to actual usage', () => {
    const l = limiter({ tpm: 1000 });
    const lane = l.lane('k', 'm');
    l.admit(lane, tokens(500), 0, 0);
    l.settle(lane, tokens(500), tokens(120), 0);
    expect(lane.view('tokens', 0)).toMatchObject({ remaining: 880, resetMs: 7200 });
  });

  it('describes the binding bucket: the one with the smaller remaining / limit', () => {
    const l = limiter({ tpm: 30_000, tpd: 20_000 });
    const lane = l.lane('k', 'm');
    l.admit(lane, tokens(15_000), 0, 0);
    expect(lane.view('tokens', 0)).toEqual({
      dimension: 'tokens',
      period: 'day',
      limit: 20_000,
      remaining: 5000,
      resetMs: 64_800_000,
    });
    // A minute later the per-minute bucket is empty and the per-day one still binds.
    expect(lane.view('tokens', 60_000)?.limit).toBe(20_000);
    expect(lane.view('requests', 0)).toBeUndefined();
  });
});
