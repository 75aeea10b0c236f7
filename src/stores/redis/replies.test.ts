import { describe, expect, it } from 'vitest';
import { bucket, MINUTE_MS } from '../../engine/limits.js';
import {
  levelsOf,
  RESERVE_CODE,
  RESERVE_LEVEL_SCALE,
  RESERVE_LEVELS_AT,
  toLearned,
  toReservation,
  toSnapshot,
} from './replies.js';

const buckets = [bucket('requests', 60, MINUTE_MS), bucket('tokens', 6000, MINUTE_MS)];

describe('reserve.lua codes', () => {
  it('maps each code to a Reservation', () => {
    expect(toReservation([RESERVE_CODE.charged, 0, 0, 0, 1000, 100_000], buckets)).toEqual({
      ok: true,
      waitMs: 0,
    });
    expect(toReservation([RESERVE_CODE.wait, 1_146_500_000, 2, 0, 1000, 5_900_000], buckets)).toEqual({
      ok: false,
      waitMs: 1146.5,
      blockedBy: 'tokens/60000',
    });
    expect(toReservation([RESERVE_CODE.never, 0, 1, 0, 0, 0], buckets)).toEqual({
      ok: false,
      waitMs: Infinity,
      blockedBy: 'requests/60000',
    });
    expect(toReservation([RESERVE_CODE.cooldown, 4_000_000_000, 0, 0, 0, 0], buckets)).toEqual({
      ok: false,
      waitMs: 4000,
      blockedBy: 'cooldown',
    });
    expect(
      toReservation(
        [RESERVE_CODE.tripped, 5_000_000_000, 0, 0, 0, 0, 'quota gone', 'insufficient_quota'],
        buckets,
      ),
    ).toEqual({
      ok: false,
      waitMs: 5000,
      blockedBy: 'tripped',
      trip: { message: 'quota gone', code: 'insufficient_quota' },
    });
    expect(toReservation([RESERVE_CODE.priority, 10_000_000, 1, 0, 0, 0], buckets)).toEqual({
      ok: false,
      waitMs: 10,
      blockedBy: 'priority',
    });
    expect(toReservation([RESERVE_CODE.concurrency, 10_000_000, 0, 0, 0, 0], buckets)).toEqual({
      ok: false,
      waitMs: 10,
      blockedBy: 'concurrency',
    });
    // A full tenant set is named by the id the claim gave it.
    const claim = {
      rank: 1,
      own: 0,
      last: true,
      owner: 'o',
      slot: { id: 's', tenant: { id: 'tenant:a:concurrency', max: 1 } },
    };
    expect(toReservation([RESERVE_CODE.tenantConcurrency, 5_000_000, 0, 0, 0, 0], buckets, claim)).toEqual({
      ok: false,
      waitMs: 5,
      blockedBy: 'tenant:a:concurrency',
    });
    expect(() => toReservation([RESERVE_CODE.tenantConcurrency, 5_000_000, 0, 0, 0, 0], buckets)).toThrow(
      /does not understand/,
    );
  });

  it('carries the learned limits version when there is one', () => {
    expect(toReservation([RESERVE_CODE.charged, 0, 0, 3, 0, 0], buckets)).toEqual({
      ok: true,
      waitMs: 0,
      learned: 3,
    });
  });

  it('carries the levels after the call, in milli-units', () => {
    expect(
      levelsOf(
        [RESERVE_CODE.charged, 0, 0, 0, 1000, 100_250],
        buckets,
        RESERVE_LEVELS_AT,
        RESERVE_LEVEL_SCALE,
      ),
    ).toEqual({
      'requests/60000': 1,
      'tokens/60000': 100.25,
    });
  });

  it('throws on a reply it does not know rather than guessing', () => {
    expect(() => toReservation([9, '0', 0, 0, '0', '0'], buckets)).toThrow(/does not understand/);
    expect(() => toReservation([RESERVE_CODE.wait, '10', 3, 0, '0', '0'], buckets)).toThrow(
      /does not understand/,
    );
    expect(() => toReservation('OK', buckets)).toThrow(/does not understand/);
    expect(() => toReservation([RESERVE_CODE.charged, '0', 0], buckets)).toThrow(/does not understand/);
  });
});

describe('learn.lua reply', () => {
  it('reads applied, version and the record', () => {
    const record = { buckets: [bucket('tokens', 6000, MINUTE_MS)], tightened: { 'tokens/60000': 5000 } };
    expect(toLearned([1, 2, JSON.stringify(record)])).toEqual({ applied: true, version: 2, record });
    expect(toLearned([0, 0, ''])).toEqual({ applied: false, version: 0 });
    expect(() => toLearned([0, 0, '{'])).toThrow(/does not understand/);
  });
});

describe('snapshot.lua reply', () => {
  it('turns the cooldown left into the caller clock and reads levels by bucket', () => {
    expect(toSnapshot(['4000', '1', '250.5'], buckets, 1000)).toEqual({
      levels: { 'requests/60000': 1, 'tokens/60000': 250.5 },
      cooldownUntil: 5000,
    });
    expect(toSnapshot(['0', '0', '0'], buckets, 1000).cooldownUntil).toBe(0);
  });
});
