/**
 * What the scripts answer, turned into the Store interface's values. The scripts return numeric codes;
 * this is the one place that maps them.
 */
import type { BucketSpec, CostVector } from '../../engine/limits.js';
import {
  PRIORITY_GRACE_MS,
  PRIORITY_POLL_MS,
  type Claim,
  type LaneSnapshot,
  type Learned,
  type LearnedLimits,
  type Reservation,
} from '../../engine/store.js';

/** reserve.lua's codes. */
export const RESERVE_CODE = {
  charged: 0,
  wait: 1,
  never: 2,
  cooldown: 3,
  tripped: 4,
  priority: 5,
  concurrency: 6,
  tenantConcurrency: 7,
} as const;

/** Where reserve.lua's levels start in its reply (after code, wait, index, version). */
export const RESERVE_LEVELS_AT = 4;

/** reserve.lua answers waits in ns (ms × 1e6) and levels in milli-units, as integers. */
export const RESERVE_WAIT_SCALE = 1e6;
export const RESERVE_LEVEL_SCALE = 1e3;

function bad(script: string, reply: unknown): Error {
  return new Error(
    `${script}.lua answered ${JSON.stringify(reply)}, which this version does not understand.`,
  );
}

/**
 * reserve.lua's `{code, wait, index, version, level… [, trip message, trip code]}` as a Reservation (the
 * levels are read by `levelsOf`).
 */
export function toReservation(reply: unknown, buckets: readonly BucketSpec[], claim?: Claim): Reservation {
  const n = buckets.length;
  if (
    !Array.isArray(reply) ||
    (reply.length !== RESERVE_LEVELS_AT + n && reply.length !== RESERVE_LEVELS_AT + n + 2)
  )
    throw bad('reserve', reply);
  const [code, wait, index, version] = reply as [unknown, unknown, unknown, unknown];
  const bucketId = typeof index === 'number' ? buckets[index - 1]?.id : undefined;
  const r = reservationOf(code, Number(wait) / RESERVE_WAIT_SCALE, bucketId, reply, claim);
  if (typeof version === 'number' && version > 0) r.learned = version;
  if (code === RESERVE_CODE.charged && index === 1) r.probe = true;
  return r;
}

function reservationOf(
  code: unknown,
  waitMs: number,
  bucketId: string | undefined,
  reply: unknown[],
  claim: Claim | undefined,
): Reservation {
  switch (code) {
    case RESERVE_CODE.charged:
      return { ok: true, waitMs: 0 };
    case RESERVE_CODE.wait:
      if (bucketId === undefined) throw bad('reserve', reply);
      return { ok: false, waitMs, blockedBy: bucketId };
    case RESERVE_CODE.never:
      if (bucketId === undefined) throw bad('reserve', reply);
      return { ok: false, waitMs: Infinity, blockedBy: bucketId };
    case RESERVE_CODE.cooldown:
      return { ok: false, waitMs, blockedBy: 'cooldown' };
    case RESERVE_CODE.tripped: {
      const message = reply.at(-2);
      const tripCode = reply.at(-1);
      return {
        ok: false,
        waitMs,
        blockedBy: 'tripped',
        trip: {
          message: typeof message === 'string' ? message : 'The lane is tripped.',
          ...(typeof tripCode === 'string' && tripCode !== '' ? { code: tripCode } : {}),
        },
      };
    }
    case RESERVE_CODE.priority:
      return { ok: false, waitMs, blockedBy: 'priority' };
    case RESERVE_CODE.concurrency:
      return { ok: false, waitMs, blockedBy: 'concurrency' };
    case RESERVE_CODE.tenantConcurrency: {
      const set = claim?.slot?.tenant?.id;
      if (set === undefined) throw bad('reserve', reply);
      return { ok: false, waitMs, blockedBy: set };
    }
    default:
      throw bad('reserve', reply);
  }
}

/**
 * The bucket levels a reply carries from `offset` on, by bucket id: reserve.lua's from 3 in milli-units
 * (`scale` = RESERVE_LEVEL_SCALE), snapshot.lua's from 1 in units.
 */
export function levelsOf(
  reply: readonly unknown[],
  buckets: readonly BucketSpec[],
  offset: number,
  scale = 1,
): Record<string, number> {
  const levels: Record<string, number> = {};
  buckets.forEach((spec, i) => (levels[spec.id] = Number(reply[offset + i]) / scale));
  return levels;
}

/** snapshot.lua's `{cooldown ms left, level…}` as a LaneSnapshot in the caller's clock. */
export function toSnapshot(reply: unknown, buckets: readonly BucketSpec[], now: number): LaneSnapshot {
  if (!Array.isArray(reply) || reply.length !== buckets.length + 1) throw bad('snapshot', reply);
  const left = Number(reply[0]);
  return { levels: levelsOf(reply, buckets, 1), cooldownUntil: left > 0 ? now + left : 0 };
}

type Arg = string | number;

/**
 * reserve.lua's ARGV after the common head: the claim (rank, own, last, slot id, lane slots, tenant slots,
 * lease ms, grace, poll, owner, learned version), n, then id, limit, window, capacity, margin, cost per
 * bucket.
 */
export function reserveArgs(
  head: readonly Arg[],
  buckets: readonly BucketSpec[],
  cost: CostVector,
  claim: Claim | undefined,
  leaseMs: number,
): Arg[] {
  const slot = claim?.slot;
  const args: Arg[] = [
    ...head,
    claim?.rank ?? 1,
    claim?.own ?? 0,
    claim?.last ? '1' : '0',
    slot?.id ?? '',
    slot?.max ?? 0,
    slot?.tenant?.max ?? 0,
    leaseMs,
    PRIORITY_GRACE_MS,
    PRIORITY_POLL_MS,
    claim?.owner ?? '',
    claim?.learned ?? '',
    buckets.length,
  ];
  for (const spec of buckets) {
    args.push(spec.id, spec.limit, spec.windowMs, spec.capacity, spec.margin ?? 0, cost[spec.dimension] ?? 0);
  }
  return args;
}

/**
 * adjust.lua's and raise.lua's ARGV after the common head: the learned version the caller holds ('' for
 * none), n, then id, limit, window, value per bucket.
 */
export function bucketValueArgs(
  head: readonly Arg[],
  learned: number | undefined,
  entries: readonly [BucketSpec, number][],
): Arg[] {
  const args: Arg[] = [...head, learned ?? '', entries.length];
  for (const [spec, value] of entries) args.push(spec.id, spec.limit, spec.windowMs, value);
  return args;
}

/** snapshot.lua's ARGV after the common head: the learned version ('' for none), n, then id, limit, window per bucket. */
export function snapshotArgs(
  head: readonly Arg[],
  learned: number | undefined,
  buckets: readonly BucketSpec[],
): Arg[] {
  const args: Arg[] = [...head, learned ?? '', buckets.length];
  for (const spec of buckets) args.push(spec.id, spec.limit, spec.windowMs);
  return args;
}

/** learn.lua's `{applied, version, json}`. */
export function toLearned(reply: unknown): Learned {
  if (!Array.isArray(reply) || reply.length !== 3) throw bad('learn', reply);
  const [applied, version, json] = reply as [unknown, unknown, unknown];
  if (typeof version !== 'number') throw bad('learn', reply);
  const out: Learned = { applied: applied === 1, version };
  if (typeof json === 'string' && json !== '') {
    try {
      out.record = JSON.parse(json) as LearnedLimits;
    } catch {
      throw bad('learn', reply);
    }
  }
  return out;
}
