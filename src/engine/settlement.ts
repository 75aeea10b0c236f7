/**
 * What a request cost in the end. Once its usage is known the lane learns its typical completion (from
 * requests that named no max) and, as `settlement` says, the token ledger is charged or refunded the
 * difference between the estimate reserved at admission and the actual usage.
 *
 * Separate input- and output-token buckets (Anthropic's ITPM and OTPM) are settled whenever settlement
 * is not `none`: Anthropic charges `max_tokens` against the output limit at admission and corrects it
 * to the tokens actually generated at the end, so a mirror that kept the max would run below the limit.
 */
import type { EngineContext } from './context.js';
import type { Usage } from './cost.js';
import type { CostVector } from './limits.js';
import type { Run } from './run.js';

/** Whether the engine uses a success's actual usage (to settle its ledger or learn the typical completion). */
export function wantsUsage(ctx: EngineContext, run: Run<unknown>): boolean {
  return !run.request.cost.maxGiven || ctx.settlement === 'usage' || settlesSplit(ctx, run);
}

/** The lane has input- or output-token buckets, and settlement is on. */
function settlesSplit(ctx: EngineContext, run: Run<unknown>): boolean {
  if (ctx.settlement === 'none') return false;
  for (const spec of run.lane.buckets) {
    if (spec.dimension === 'inputTokens' || spec.dimension === 'outputTokens') return true;
  }
  return false;
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
  if (mode === 'none') return;
  const delta: CostVector = {};
  if (settlesSplit(ctx, run)) {
    const input = run.cost.inputTokens ?? 0;
    const output = run.cost.outputTokens ?? 0;
    if (usage.promptTokens !== undefined) delta.inputTokens = usage.promptTokens - input;
    if (completion !== undefined) delta.outputTokens = completion - output;
  }
  const now = ctx.clock.now();
  if (mode === 'usage' || !cost.maxGiven) {
    const actual =
      usage.totalTokens ??
      (usage.promptTokens ?? cost.promptTokens) + (completion ?? (cost.maxGiven ? cost.completionTokens : 0));
    delta.tokens = actual - run.estimatedTokens;
    ctx.emit({
      type: 'settled',
      at: now,
      lane: lane.id,
      id: run.id,
      estimatedTokens: run.estimatedTokens,
      actualTokens: actual,
    });
  }
  if (delta.tokens || delta.inputTokens || delta.outputTokens) {
    void ctx.store.adjust(lane.id, run.buckets, delta, now, lane.learnedVersion);
  }
}
