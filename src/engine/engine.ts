/**
 * The engine decides *when* a request may go and *what to do* with each answer. It knows nothing of
 * HTTP servers, files or terminals: a shell hands it a request's lane and cost and a `send` function that
 * makes one attempt; the engine queues, admits, sends, learns, classifies and retries, and hands back
 * the final answer or a `SluiceError`.
 *
 * Exactly one layer retries, and it is this one. The rooms it is built from: `admission.ts` (when a
 * request may go), `outcome.ts` (what each answer means), `learn.ts` (limits from the server),
 * `breaker.ts` (quota trips), `lane.ts` (per-lane state), `run.ts` (per-request state).
 */
import { Admission } from './admission.js';
import { Breaker } from './breaker.js';
import type { Clock } from './clock.js';
import type { EngineContext } from './context.js';
import { EventHub, type EventListener } from './events.js';
import { Lane, type LaneStats } from './lane.js';
import { laneId } from './lane-id.js';
import { Learner } from './learn.js';
import { resolveOptions, validateLimits, type EngineOptions } from './options.js';
import { Outcomes } from './outcome.js';
import type { AttemptInfo, AttemptResult, EngineRequest, Execution, LaneRef } from './request.js';
import { Run } from './run.js';

/** A lane unused this long (nothing queued or awaiting an answer, not tripped) is forgotten. */
const LANE_IDLE_MS = 86_400_000;
/** At most one sweep for idle lanes per this long. */
const SWEEP_EVERY_MS = 60_000;

export class Engine {
  readonly #lanes = new Map<string, Lane>();
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
      emit: (event) => {
        if (events.active) events.emit(event);
      },
    };
    if (options.onEvent) events.on(options.onEvent);
    const breaker = new Breaker(this.#ctx);
    this.#learner = new Learner(this.#ctx);
    this.#admission = new Admission(this.#ctx, breaker);
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
    const run = new Run<T>(this.#ctx, this.#lane(request.lane), request, ++this.#seq);
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
            throw outcomes.requestTooLarge(run);
          case 'quota_exhausted': // fail now, trip the lane
            throw outcomes.quotaExhausted(run);
          case 'transient': // retry with backoff
            await outcomes.transient(run);
            break;
        }
      }
    } finally {
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

  #lane(ref: LaneRef): Lane {
    const id = laneId(ref);
    let lane = this.#lanes.get(id);
    if (!lane) {
      this.#forgetIdleLanes();
      const { limits } = this.#ctx;
      const config = typeof limits === 'function' ? limits(ref) : limits;
      if (typeof limits === 'function' && config) validateLimits(config, `limits(${id})`);
      lane = new Lane(
        id,
        ref,
        config,
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

  /** A snapshot of every lane, for metrics. */
  async stats(): Promise<LaneStats[]> {
    const now = this.#ctx.clock.now();
    const out: LaneStats[] = [];
    for (const lane of this.#lanes.values()) {
      out.push(lane.stats(await this.#ctx.store.snapshot(lane.id, lane.buckets, now), now));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#ctx.store.close?.();
  }
}

/** Runs `fn` on a later turn of the event loop, after every pending promise callback. */
const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

export function createEngine(options?: EngineOptions): Engine {
  return new Engine(options);
}
