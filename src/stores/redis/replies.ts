/**
 * What the scripts answer, turned into the Store interface's values. The scripts return numeric codes;
 * this is the one place that maps them.
 */
import type { BucketSpec, CostVector } from '../../engine/limits.js';
import type { LaneSnapshot, Reservation } from '../../engine/store.js';

/** reserve.lua's codes. */
export const RESERVE_CODE = { charged: 0, wait: 1, never: 2, cooldown: 3 } as const;

/** reserve.lua answers waits in ns (ms × 1e6) and levels in milli-units, as integers. */
export const RESERVE_WAIT_SCALE = 1e6;
export const RESERVE_LEVEL_SCALE = 1e3;

function bad(script: string, reply: unknown): Error {
  return new Error(
    `${script}.lua answered ${JSON.stringify(reply)}, which this version does not understand.`,
  );
}

/** reserve.lua's `{code, wait, index, level…}` as a Reservation (the levels are read by `levelsOf`). */
export function toReservation(reply: unknown, buckets: readonly BucketSpec[]): Reservation {
  if (!Array.isArray(reply) || reply.length !== 3 + buckets.length) throw bad('reserve', reply);
  const [code, wait, index] = reply as [unknown, unknown, unknown];
  const bucketId = typeof index === 'number' ? buckets[index - 1]?.id : undefined;
  switch (code) {
    case RESERVE_CODE.charged:
      return { ok: true, waitMs: 0 };
    case RESERVE_CODE.wait:
      if (bucketId === undefined) throw bad('reserve', reply);
      return { ok: false, waitMs: Number(wait) / RESERVE_WAIT_SCALE, blockedBy: bucketId };
    case RESERVE_CODE.never:
      if (bucketId === undefined) throw bad('reserve', reply);
      return { ok: false, waitMs: Infinity, blockedBy: bucketId };
    case RESERVE_CODE.cooldown:
      return { ok: false, waitMs: Number(wait) / RESERVE_WAIT_SCALE, blockedBy: 'cooldown' };
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

/** reserve.lua's ARGV after the common head: n, then id, limit, window, capacity, margin, cost per bucket. */
export function reserveArgs(head: readonly Arg[], buckets: readonly BucketSpec[], cost: CostVector): Arg[] {
  const args: Arg[] = [...head, buckets.length];
  for (const spec of buckets) {
    args.push(spec.id, spec.limit, spec.windowMs, spec.capacity, spec.margin ?? 0, cost[spec.dimension] ?? 0);
  }
  return args;
}

/** adjust.lua's and raise.lua's ARGV after the common head: n, then id, limit, window, value per bucket. */
export function bucketValueArgs(head: readonly Arg[], entries: readonly [BucketSpec, number][]): Arg[] {
  const args: Arg[] = [...head, entries.length];
  for (const [spec, value] of entries) args.push(spec.id, spec.limit, spec.windowMs, value);
  return args;
}

/** snapshot.lua's ARGV after the common head: n, then id, limit, window per bucket. */
export function snapshotArgs(head: readonly Arg[], buckets: readonly BucketSpec[]): Arg[] {
  const args: Arg[] = [...head, buckets.length];
  for (const spec of buckets) args.push(spec.id, spec.limit, spec.windowMs);
  return args;
}
