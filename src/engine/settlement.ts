/**
 * What a request cost in the end. Once its usage is known the lane learns its typical completion (from
 * requests that named no max) and, as `settlement` says, the token ledger is charged or refunded the
 * difference between the estimate reserved at admission and the actual usage.
 */
import type { EngineContext } from './context.js';
import type { Usage } from './cost.js';
import type { Run } from './run.js';

/** Whether the engine uses a success's actual usage (to settle its ledger or learn the typical completion). */
export function wantsUsage(ctx: EngineContext, run: Run<unknown>): boolean {
  return !run.request.cost.maxGiven || ctx.settlement === 'usage';
}

/** Settles a run's reservation against the usage its answer reported. */
export function settleUsage(ctx: EngineContext, run: Run<unknown>, usage: Usage): void {
  const { lane } = run;
  const cost = run.request.cost;
  const completion = usage.completionTokens;
  if (!cost.maxGiven && completion !== undefined) {
    lane.typicalCompletion = Math.max(
      1,
      0.8 * lane.typicalCompletion + (0.2 * completion) / Math.max(1, cost.n),
    );
  }
  const mode = ctx.settlement;
  if (mode === 'none' || (mode === 'auto' && cost.maxGiven)) return;
  const actual =
    usage.totalTokens ??
    (usage.promptTokens ?? cost.promptTokens) + (completion ?? (cost.maxGiven ? cost.completionTokens : 0));
  const delta = actual - run.estimatedTokens;
  const now = ctx.clock.now();
  ctx.emit({
    type: 'settled',
    at: now,
    lane: lane.id,
    id: run.id,
    estimatedTokens: run.estimatedTokens,
    actualTokens: actual,
  });
  if (delta !== 0) void ctx.store.adjust(lane.id, run.buckets, { tokens: delta }, now);
}
