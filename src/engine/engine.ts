/**
 * The engine decides *when* a request may go and *what to do* with each answer. It knows nothing of
 * HTTP servers, files or terminals: a shell hands it a request's lane and cost and a `send` function that
 * makes one attempt; the engine queues, admits, sends, learns, classifies and retries, and hands back
 * the final answer or a `SluiceError`.
 *
 * Exactly one layer retries, and it is this one. The rooms it is built from: `admission.ts` (when a
 * request may go), `outcome.ts` (what each answer means), `learn.ts` (limits from the server),
 * `breaker.ts` (quota trips), `lane.ts` (per-lane state), `tenant.ts` (a tenant's share of a lane),
 * `run.ts` (per-request state).
 */
import { Admission } from './admission.js';
import { Breaker } from './breaker.js';
import type { Clock } from './clock.js';
import type { EngineContext } from './context.js';
import { EventHub, type EventListener } from './events.js';
import { Lane, type LaneStats } from './lane.js';
import { laneId } from './lane-id.js';
import { Learner } from './learn.js';
import {
  resolveOptions,
  validateLimits,
  type EngineOptions,
  type LimitsConfig,
  type TenantLimitsFunction,
} from './options.js';
import { Outcomes } from './outcome.js';
import type { AttemptInfo, AttemptResult, EngineRequest, Execution, LaneRef } from './request.js';
import { Run, type Ticket } from './run.js';
import { Tenant } from './tenant.js';

/** A lane unused this long (nothing queued or awaiting an answer, not tripped) is forgotten. */
const LANE_IDLE_MS = 86_400_000;
/** At most one sweep for idle lanes per this long. */
const SWEEP_EVERY_MS = 60_000;

export class Engine {
  readonly #lanes = new Map<string, Lane<Ticket>>();
  readonly #events = new EventHub();
  readonly #ctx: EngineContext;
  readonly #admission: Admission;
  readonly #outcomes: Outcomes;
  readonly #learner: Learner;
  #seq = 0;
  #sweepAt = 0;
  /** `execute` calls that have not settled yet. */
  #running = 0;
  #idleWaiters: (() => void)[] = [];

  /** Throws `invalid_option` naming the first option that has a value the engine cannot use. */
  constructor(options: EngineOptions = {}) {
    const resolved = resolveOptions(options);
    const events = this.#events;
    this.#ctx = {
      ...resolved,
      owner: globalThis.crypto.randomUUID().slice(0, 13),
      emit: (event) => {
        if (events.active) events.emit(event);
      },
    };
    if (options.onEvent) events.on(options.onEvent);
    const breaker = new Breaker(this.#ctx);
    this.#learner = new Learner(this.#ctx);
    this.#admission = new Admission(this.#ctx, breaker, this.#learner);
    this.#outcomes = new Outcomes(this.#ctx, breaker, this.#learner);
  }

  get clock(): Clock {
    return this.#ctx.clock;
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: EventListener): () => void {
    return this.#events.on(listener);
  }

  /** The lane id for a lane reference (upstream | key fingerprint | model). */
  laneId(ref: LaneRef): string {
    return laneId(ref);
  }

  /**
   * Runs one request to its end: waits for admission, sends (through `send`), learns from the answer and
   * acts on it. Resolves with the success (or a fatal answer to pass through); rejects with a
   * `SluiceError` (or the signal's abort reason).
   */
  async execute<T>(
    request: EngineRequest,
    send: (attempt: AttemptInfo) => Promise<AttemptResult<T>>,
  ): Promise<Execution<T>> {
    const lane = this.#lane(request.lane);
    const tenant = this.#tenant(lane, request.tenant ?? 'default');
    const run = new Run<T>(this.#ctx, lane, request, ++this.#seq, tenant);
    if (tenant) tenant.runs++;
    const outcomes = this.#outcomes;
    this.#running++;
    try {
      for (;;) {
        await this.#admission.admit(run);
        let result: AttemptResult<T>;
        try {
          result = await send({ number: run.attempts, id: run.id });
        } catch (err) {
          await outcomes.unreachable(run, err); // retry with backoff, or upstream_error
          continue;
        }
        switch (outcomes.read(run, result)) {
          case 'success': // settle, return
            return outcomes.success(run);
          case 'fatal': // pass the upstream's answer through
            return outcomes.fatal(run);
          case 'rate_limited': // pause the lane, back to the head of the queue
          case 'slow_down': // as above, and lower the pace
            await outcomes.rateLimited(run);
            break;
          case 'request_too_large': // fail now, no retry
            throw await outcomes.requestTooLarge(run);
          case 'quota_exhausted': // fail now, trip the lane
            throw outcomes.quotaExhausted(run);
          case 'transient': // retry with backoff
            await outcomes.transient(run);
            break;
        }
      }
    } finally {
      if (run.tenantState) run.tenantState.runs--;
      if (--this.#running === 0 && this.#idleWaiters.length > 0) this.#whenQuiet();
    }
  }

  /**
   * Resolves once no request is in the engine: none queued, awaiting an answer or waiting to retry on
   * any lane. That is, every `execute` call has settled and the callbacks chained on it have run (the
   * check waits one turn of the event loop, so work they start keeps the engine busy). Bodies still
   * being streamed do not count. Resolves at once when the engine is idle already.
   */
  idle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Resolves the idle waiters after the current turn, so that the handlers callers attached to the last
   * `execute` run first, and only if nothing started meanwhile.
   */
  #whenQuiet(): void {
    defer(() => {
      if (this.#running !== 0) return;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    });
  }

  #lane(ref: LaneRef): Lane<Ticket> {
    const id = laneId(ref);
    let lane = this.#lanes.get(id);
    if (!lane) {
      this.#forgetIdleLanes();
      lane = new Lane<Ticket>(
        id,
        ref,
        laneConfig(this.#ctx.limits, ref, id),
        this.#ctx.learnLimits,
        this.#ctx.typicalCompletionTokens,
        this.#ctx.safetyMarginMs,
      );
      this.#lanes.set(id, lane);
    }
    lane.lastUsed = this.#ctx.clock.now();
    return lane;
  }

  /**
   * The tenant's share of the lane, met once and kept while it has requests; `undefined` when the engine
   * has no `tenantLimits`. Idle tenants are dropped once a lane has met many.
   */
  #tenant(lane: Lane, name: string): Tenant | undefined {
    const { tenantLimits } = this.#ctx;
    if (tenantLimits === undefined) return undefined;
    let tenant = lane.tenants.get(name);
    if (!tenant) {
      if (lane.tenants.size >= lane.tenantSweepAt) {
        for (const [key, t] of lane.tenants) if (t.runs === 0 && t.inFlight === 0) lane.tenants.delete(key);
        lane.tenantSweepAt = Math.max(1024, 2 * lane.tenants.size);
      }
      tenant = new Tenant(name, tenantConfig(tenantLimits, lane, name));
      lane.tenants.set(name, tenant);
    }
    return tenant;
  }

  /**
   * Drops lanes unused for a day (nothing queued or awaiting an answer, not tripped), so a process that
   * meets many keys or models does not grow without bound. At most one sweep a minute.
   */
  #forgetIdleLanes(): void {
    const now = this.#ctx.clock.now();
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + SWEEP_EVERY_MS;
    for (const [id, lane] of this.#lanes) {
      const idle = lane.queue.size === 0 && lane.awaiting === 0 && !lane.held;
      if (idle && now - lane.lastUsed > LANE_IDLE_MS) this.#lanes.delete(id);
    }
  }

  /** Lets a tripped lane run again (an operator fixed billing) and forgets its cooldown. */
  async resetLane(laneId: string): Promise<boolean> {
    const lane = this.#lanes.get(laneId);
    if (!lane) return false;
    lane.restart();
    this.#learner.forget(lane);
    await this.#ctx.store.clear(laneId);
    this.#ctx.emit({ type: 'lane_reset', at: this.#ctx.clock.now(), lane: laneId, id: 0 });
    lane.wake?.();
    return true;
  }

  /**
   * Applies the limits again to every lane in use, so that a changed configuration (a gateway's reload)
   * reaches lanes already met: `limits` and `tenantLimits` are replaced by the ones given here, if any,
   * and functions among them are called again for every lane and every tenant met. A lane keeps what it
   * learned from the server (limits, tightened bursts, pace), its mode and its bucket levels; its queue
   * stays and goes on at the new limits, except requests that can now never fit, which fail with
   * `request_too_large`. Throws `invalid_option`, changing nothing, when a limit is invalid.
   */
  reconfigure(changes: Pick<EngineOptions, 'limits' | 'tenantLimits'> = {}): void {
    const ctx = this.#ctx;
    const limits = changes.limits ?? ctx.limits;
    const tenantLimits = changes.tenantLimits ?? ctx.tenantLimits;
    if (changes.limits !== undefined && typeof limits !== 'function' && limits)
      validateLimits(limits, 'limits');
    if (changes.tenantLimits !== undefined && typeof tenantLimits !== 'function' && tenantLimits)
      validateLimits(tenantLimits, 'tenantLimits');
    // Every new value first, so that an invalid one changes nothing.
    const plan = [...this.#lanes.values()].map((lane) => ({
      lane,
      config: laneConfig(limits, lane.ref, lane.id),
      tenants: tenantLimits
        ? [...lane.tenants.values()].map((t) => [t, tenantConfig(tenantLimits, lane, t.name)] as const)
        : [],
    }));
    ctx.limits = limits;
    ctx.tenantLimits = tenantLimits;
    for (const { lane, config, tenants } of plan) {
      lane.configure(config);
      for (const [tenant, tenantConfig] of tenants) tenant.configure(tenantConfig);
      // Requests queued before the engine had tenant limits join their tenant now.
      if (tenantLimits) {
        for (const ticket of lane.queue.entries()) {
          if (ticket.run.tenantState) continue;
          const tenant = this.#tenant(lane, ticket.run.tenant)!;
          ticket.run.tenantState = tenant;
          tenant.runs++;
        }
      }
      this.#admission.recheck(lane);
    }
  }

  /**
   * A snapshot of one lane (as `stats()` has it), for describing the lane in an error answer without
   * reading every lane; with `tenant`, also that tenant's share of the lane (when the engine has
   * `tenantLimits`). `undefined` for a lane the engine does not know (never used, or forgotten).
   */
  async laneStats(laneId: string, tenant?: string): Promise<LaneStats | undefined> {
    const lane = this.#lanes.get(laneId);
    if (!lane) return undefined;
    const now = this.#ctx.clock.now();
    const share = tenant === undefined ? undefined : this.#tenant(lane, tenant);
    const buckets = share ? share.with(lane.buckets) : lane.buckets;
    const snapshot = await this.#ctx.store.snapshot(lane.id, buckets, now, lane.learnedVersion);
    const stats = lane.stats(snapshot, now);
    if (share) stats.tenant = share.stats(snapshot);
    return stats;
  }

  /** A snapshot of every lane, for metrics. */
  async stats(): Promise<LaneStats[]> {
    const now = this.#ctx.clock.now();
    const out: LaneStats[] = [];
    for (const lane of this.#lanes.values()) {
      const snapshot = await this.#ctx.store.snapshot(lane.id, lane.buckets, now, lane.learnedVersion);
      out.push(lane.stats(snapshot, now));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#ctx.store.close?.();
  }
}

/** A lane's configured limits: the option itself, or what its function says for the lane (checked). */
function laneConfig(limits: EngineOptions['limits'], ref: LaneRef, id: string): LimitsConfig | undefined {
  if (typeof limits !== 'function') return limits;
  const config = limits(ref);
  if (config) validateLimits(config, `limits(${id})`);
  return config;
}

/** A tenant's sub-limits on a lane: the option itself, or what its function says (checked). */
function tenantConfig(
  tenantLimits: LimitsConfig | TenantLimitsFunction,
  lane: Lane,
  name: string,
): LimitsConfig | undefined {
  if (typeof tenantLimits !== 'function') return tenantLimits;
  const config = tenantLimits(lane.ref, name);
  if (config) validateLimits(config, `tenantLimits(${lane.id}, ${JSON.stringify(name)})`);
  return config;
}

/** Runs `fn` on a later turn of the event loop, after every pending promise callback. */
const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

export function createEngine(options?: EngineOptions): Engine {
  return new Engine(options);
}
