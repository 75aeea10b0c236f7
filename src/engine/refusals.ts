/**
 * The errors admission fails a request with before it is sent, each saying what to do: too large for a
 * bucket (the lane's or its tenant's), the queue full, the deadline out of reach or passed in line.
 */
import { sluiceError, type SluiceError } from './errors.js';
import type { Lane } from './lane.js';
import { MINUTE_MS, type BucketSpec } from './limits.js';
import type { Run, Ticket } from './run.js';

export function tooLarge(
  run: Run<unknown>,
  buckets: readonly BucketSpec[],
  blockedBy: string | undefined,
): SluiceError {
  const { lane, cost } = run;
  const spec = buckets.find((b) => b.id === blockedBy);
  const dimension = spec?.dimension ?? 'tokens';
  if (spec && run.tenantState?.owns(spec.id)) {
    return sluiceError(
      'request_too_large',
      `The request needs ${cost[dimension]} ${dimension} but tenant ${JSON.stringify(run.tenant)} may use at most ${Math.floor(spec.capacity)} at once on this lane (its sub-limit: ${spec.limit} per ${spec.windowMs / 1000}s). Reduce the prompt or max_tokens, or raise the tenant's sub-limit.`,
      { lane: lane.id },
    );
  }
  return sluiceError(
    'request_too_large',
    `The request needs ${cost[dimension]} ${dimension} but the lane can admit at most ${Math.floor(spec?.capacity ?? 0)} at once (limit ${spec?.limit ?? '?'} per ${(spec?.windowMs ?? MINUTE_MS) / 1000}s). Reduce the prompt or max_tokens, or raise the burst.`,
    { lane: lane.id },
  );
}

export function queueFull(run: Run<unknown>, wait: number): SluiceError {
  return sluiceError(
    'queue_full',
    `The lane's queue is full (${run.ctx.maxQueue} waiting). Retry after ${Math.ceil(wait / 1000)}s or raise maxQueue.`,
    { lane: run.lane.id, retryAfterMs: wait },
  );
}

export function beyondDeadline(run: Run<unknown>, wait: number, now: number): SluiceError {
  return sluiceError(
    'deadline_exceeded',
    `The request would wait about ${Math.ceil(wait)} ms for admission, beyond its deadline (${Math.max(0, Math.round(run.deadline - now))} ms left). Raise the max wait, lower the priority of other work, or retry later.`,
    { lane: run.lane.id, retryAfterMs: wait },
  );
}

export function pastDeadline(lane: Lane<Ticket>, wait: number, tenant?: string): SluiceError {
  const why = tenant === undefined ? '' : ` for tenant ${JSON.stringify(tenant)}'s own sub-limit`;
  return sluiceError(
    'deadline_exceeded',
    `The request would wait ${Math.ceil(wait)} ms for admission${why}, beyond its deadline. Raise the max wait or retry later.`,
    { lane: lane.id, retryAfterMs: wait },
  );
}

export function waitedOut(lane: Lane<Ticket>): SluiceError {
  return sluiceError(
    'deadline_exceeded',
    `The request waited its whole deadline without being admitted. Raise the max wait or retry later.`,
    { lane: lane.id },
  );
}
