/**
 * One request's way through the engine, as one object: what it costs, its place in line, how many
 * attempts it made and why, and the last answer. Every room reads and updates the run instead of
 * passing its parts around.
 */
import type { BucketSpec, CostVector } from './limits.js';
import type { ErrorCode } from './errors.js';
import type { EngineContext } from './context.js';
import type { Priority } from './events.js';
import type { Lane, Waiting } from './lane.js';
import { admittedOutput, admittedTokens, type AttemptResult, type EngineRequest } from './request.js';
import type { SlotClaim } from './store.js';
import type { Tenant } from './tenant.js';
import type { Classification, ServerView } from './types.js';

/** A run's place in its lane's queue while it waits for one admission. */
export interface Ticket extends Waiting {
  run: Run<unknown>;
  resolve: () => void;
}

export class Run<T> {
  /** When `execute` was called. */
  readonly start: number;
  readonly maxWaitMs: number;
  /** Admission deadline (epoch ms; `Infinity` without one). */
  readonly deadline: number;
  /** Tokens reserved at admission: the prompt and the max completion, or the lane's typical one. */
  readonly estimatedTokens: number;
  /**
   * The admission charge in every dimension: 1 request, `estimatedTokens` tokens, and the same split in
   * two for separate input- and output-token buckets (Anthropic's ITPM and OTPM): the prompt as input,
   * the max completion as output. A dimension the lane has no bucket for costs nothing.
   */
  readonly cost: CostVector;
  readonly priority: Priority;
  readonly tenant: string;
  readonly weight: number;
  /** Fair-share cost in the queue. */
  readonly share: number;
  /**
   * The tenant's share of the lane (its sub-limits and slots), when the engine has `tenantLimits`. Set
   * once, never replaced: a reconfiguration changes the object in place.
   */
  tenantState: Tenant | undefined;

  /** Attempts sent so far. */
  attempts = 0;
  /** Time spent waiting for admission, all attempts together. */
  queuedMs = 0;
  /** 429 answers met. */
  rateLimited = 0;
  /** Transient failures and network errors met (the backoff's retry number). */
  transient = 0;
  /** When the first attempt went (the retry policy's elapsed time counts from here). */
  firstSentAt = 0;
  /** Whether the next admission puts the request at the head of its class (a retry). */
  front = false;
  /**
   * The admission of this attempt already gave back a reservation to read newer learning first; it
   * does not again (a store whose learning cannot be read would otherwise hold it back for ever).
   */
  resynced = false;
  /** Whether the current attempt's concurrency slot has been given back. */
  #released = true;
  /** The concurrency slot the current attempt leased in the store, if the lane or tenant limits concurrency. */
  slot: string | undefined;

  /** When the current attempt was admitted and sent. */
  sentAt = 0;
  /** The current attempt's answer, once `Outcomes.read` has read it. */
  result: AttemptResult<T> | undefined;
  /** What the answer's headers and body say about the lane. */
  view: ServerView | undefined;
  /** What the answer means. */
  classification: Classification | undefined;
  /** When the answer arrived. */
  answeredAt = 0;
  /** Bucket levels the answer's headers reported, by bucket id. */
  levels: Record<string, number> = NO_LEVELS;

  constructor(
    readonly ctx: EngineContext,
    readonly lane: Lane<Ticket>,
    readonly request: EngineRequest,
    readonly id: number,
    tenantState?: Tenant,
  ) {
    this.tenantState = tenantState;
    this.start = ctx.clock.now();
    this.maxWaitMs = request.maxWaitMs ?? ctx.maxWaitMs;
    this.estimatedTokens = admittedTokens(request.cost, lane.typicalCompletion);
    const output = admittedOutput(request.cost, lane.typicalCompletion);
    this.cost = {
      requests: 1,
      tokens: this.estimatedTokens,
      inputTokens: this.estimatedTokens - output,
      outputTokens: output,
    };
    this.priority = request.priority ?? 'default';
    this.tenant = request.tenant ?? 'default';
    this.weight = request.weight ?? 1;
    this.share = Math.max(1, this.estimatedTokens);
    this.deadline = this.start + this.maxWaitMs;
  }

  get signal(): AbortSignal | undefined {
    return this.request.signal;
  }

  /** The buckets one admission of this run charges: the lane's, and its tenant's own. */
  get buckets(): readonly BucketSpec[] {
    return this.tenantState ? this.tenantState.with(this.lane.charged) : this.lane.charged;
  }

  /**
   * The concurrency slot the next attempt leases in the store, by `owner` (the engine): on the lane when
   * it limits concurrency, in the tenant's set when the tenant does; undefined when neither does.
   */
  slotClaim(owner: string): SlotClaim | undefined {
    const max = this.lane.config?.maxConcurrency;
    const tenantMax = this.tenantState?.config?.maxConcurrency;
    if (max === undefined && tenantMax === undefined) return undefined;
    const slot: SlotClaim = { id: `${owner}:${this.id}:${this.attempts + 1}` };
    if (max !== undefined) slot.max = max;
    if (tenantMax !== undefined) slot.tenant = { id: this.tenantState!.concurrencyId, max: tenantMax };
    return slot;
  }

  /** Whether the lane's and the tenant's concurrency let the run go now. */
  gateOpen(): boolean {
    return this.lane.gateOpen() && (this.tenantState?.gateOpen() ?? true);
  }

  /** The run was admitted: it is awaited on the lane and takes a slot of the lane's and its tenant's. */
  occupy(): void {
    this.lane.awaiting++;
    this.lane.inFlight++;
    if (this.tenantState) this.tenantState.inFlight++;
  }

  /** Counts an admitted attempt (after {@link occupy}): it holds its slots until {@link release}. */
  admitted(at: number): void {
    this.attempts++;
    if (this.attempts === 1) this.firstSentAt = at;
    this.sentAt = at;
    this.#released = false;
  }

  /** Gives back the current attempt's concurrency slot. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const { lane, tenantState } = this;
    lane.inFlight--;
    if (this.slot !== undefined) {
      void this.ctx.store.release?.(lane.id, this.slot, this.ctx.clock.now());
      this.slot = undefined;
    }
    if (tenantState) {
      tenantState.inFlight--;
      if (tenantState.limitsConcurrency) lane.queue.unhold(tenantState.name);
    }
    lane.wake?.();
  }

  /** Announces that the request failed (with a Sluice code, or `fatal` for an upstream answer passed through). */
  fail(code: ErrorCode | 'fatal', status?: number): void {
    this.ctx.emit({
      type: 'failed',
      at: this.ctx.clock.now(),
      lane: this.lane.id,
      id: this.id,
      code,
      ...(status === undefined ? {} : { status }),
      attempts: this.attempts,
    });
  }
}

const NO_LEVELS: Record<string, number> = Object.freeze({}) as Record<string, number>;
