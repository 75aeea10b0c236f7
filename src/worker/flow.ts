/**
 * The worker's flow of messages: how many the transport may hold (sized from the lane's pace, Little's
 * law), pausing consumption on a quota stop and probing it with one message, and stopping. The core
 * tells it what happened (a quota error, an answer while paused, a drain); it asks the transport for
 * the changes, one after the other, in order.
 */
import type { Engine } from '../engine/engine.js';
import type { SluiceError } from '../engine/errors.js';
import { WORKER_DEFAULTS, type ResolvedWorkerOptions } from './options.js';
import type { WorkerTally } from './tally.js';

/** What the core asks of the transport to control the flow of messages. */
export interface Flow {
  /** Hold at most `n` unacknowledged messages from now on. */
  setPrefetch(n: number): Promise<void>;
  /** Stop taking messages (those held stay held until their verdict). */
  pause(): Promise<void>;
  /** Take messages again, at most `n` held. */
  resume(n: number): Promise<void>;
}

/** The flow's state, one value. */
export type FlowState =
  | { kind: 'running' }
  | { kind: 'paused'; reason: string; probeAt: number }
  /** One message is out to see whether the quota is back. */
  | { kind: 'probing' }
  | { kind: 'stopping' };

export class WorkerFlow {
  readonly #options: ResolvedWorkerOptions;
  readonly #engine: Engine;
  readonly #tally: WorkerTally;
  readonly #log: (line: string) => void;
  #flow: Flow | undefined;
  #state: FlowState = { kind: 'running' };
  #prefetch: number;
  #probeTimer: NodeJS.Timeout | undefined;
  #sampleTimer: NodeJS.Timeout | undefined;
  /** Requests per ms the lanes allow (the slowest of requests and tokens), once known. */
  #rate: number | undefined;
  /** The last change of the flow asked of the transport (a pause, a resume), until it is done. */
  #change: Promise<void> = Promise.resolve();

  constructor(
    options: ResolvedWorkerOptions,
    engine: Engine,
    tally: WorkerTally,
    log: (line: string) => void,
  ) {
    this.#options = options;
    this.#engine = engine;
    this.#tally = tally;
    this.#log = log;
    if (options.rpm !== undefined) this.#rate = options.rpm / 60_000;
    this.#prefetch = this.#target();
  }

  get state(): FlowState {
    return this.#state;
  }

  /** Messages the transport may hold now. */
  get prefetch(): number {
    return this.#state.kind === 'probing' ? 1 : this.#prefetch;
  }

  /** Connects the transport's flow control; the prefetch is re-computed every second. */
  attach(flow: Flow): void {
    this.#flow = flow;
    this.#sampleTimer = setInterval(() => void this.sample(), 1000);
    this.#sampleTimer.unref();
  }

  /** A quota error: stop taking messages; after the probe interval, take one to see if it is back. */
  quotaStop(err: SluiceError): void {
    if (this.#state.kind === 'stopping' || this.#state.kind === 'paused') return;
    const wait = Math.max(err.retryAfterMs ?? this.#options.quotaProbeMs, 0) || this.#options.quotaProbeMs;
    const probeAt = Date.now() + wait;
    this.#state = { kind: 'paused', reason: err.message, probeAt };
    this.#tally.quotaStops++;
    this.#log(
      `Quota stop: ${err.message} Consumption paused; messages stay queued. One message probes the quota in ${Math.round(wait / 1000)} s.`,
    );
    this.#ask(() => this.#flow?.pause());
    clearTimeout(this.#probeTimer);
    this.#probeTimer = setTimeout(() => {
      if (this.#state.kind !== 'paused') return;
      this.#state = { kind: 'probing' };
      this.#ask(() => this.#flow?.resume(1));
    }, wait);
    this.#probeTimer.unref();
  }

  /** An answer came while paused or probing: the quota is back. */
  answered(): void {
    if (this.#state.kind !== 'probing' && this.#state.kind !== 'paused') return;
    clearTimeout(this.#probeTimer);
    this.#state = { kind: 'running' };
    this.#log('The quota is back: consuming again.');
    this.#ask(() => this.#flow?.resume(this.#prefetch));
  }

  /** Stops taking messages for good; resolves once the transport paused. */
  async stop(): Promise<void> {
    if (this.#state.kind === 'stopping') return;
    this.#state = { kind: 'stopping' };
    clearTimeout(this.#probeTimer);
    this.#ask(() => this.#flow?.pause());
    await this.#change;
  }

  /** Chains a change of the flow after the last one, so they reach the transport in order. */
  #ask(step: () => Promise<void> | undefined): void {
    this.#change = this.#change.then(step).catch((err: unknown) => {
      this.#log(`Could not change the flow of messages: ${(err as Error)?.message ?? String(err)}`);
    });
  }

  /** Resolves once the last pause or resume reached the transport. */
  settled(): Promise<void> {
    return this.#change;
  }

  /** The rate the lanes allow, per second, once known. */
  limitPerSecond(): number | undefined {
    return this.#rate === undefined ? undefined : this.#rate * 1000;
  }

  /** Reads the lanes' pace and re-sizes the prefetch when it changed by more than a quarter (or from 1). */
  async sample(): Promise<void> {
    if (this.#options.concurrency !== undefined) return;
    let rate: number | undefined;
    for (const lane of await this.#engine.stats()) {
      const requests = lane.buckets.filter((b) => b.dimension === 'requests');
      const tokens = lane.buckets.filter((b) => b.dimension === 'tokens');
      let laneRate = Math.min(...requests.map((b) => b.limit / b.windowMs));
      const perRequest = this.#tally.tokensPerRequest();
      if (perRequest > 0) {
        for (const b of tokens) laneRate = Math.min(laneRate, b.limit / b.windowMs / perRequest);
      }
      if (Number.isFinite(laneRate)) rate = Math.max(rate ?? 0, laneRate);
    }
    if (rate !== undefined) this.#rate = rate;
    const target = this.#target();
    if (this.#state.kind !== 'running') {
      this.#prefetch = target;
      return;
    }
    const small = Math.abs(target - this.#prefetch) <= Math.max(1, this.#prefetch / 4);
    if (target === this.#prefetch || (small && this.#prefetch > 1)) return;
    this.#prefetch = target;
    this.#ask(() => this.#flow?.setPrefetch(target));
  }

  /**
   * Messages the pace needs held (Little's law): the rate times the time one takes (its answer's
   * latency), twice over so that the next is always ready when the limits allow one; at least 2, at
   * most `maxPrefetch`. Holding more only moves the backlog from the broker into the worker (and, with
   * several workers, past the burst the server allows).
   */
  #target(): number {
    const o = this.#options;
    if (o.concurrency !== undefined) return o.concurrency;
    // One message until the first answer: it tells the latency (and the limits, when none are given),
    // and the engine sends one request alone anyway to learn the server's real burst.
    if (this.#tally.answered === 0) return 1;
    const latency = this.#tally.latencyMs();
    if (this.#rate === undefined || latency === undefined) return WORKER_DEFAULTS.startPrefetch;
    const n = Math.ceil(2 * this.#rate * latency) + 2;
    return Math.min(WORKER_DEFAULTS.maxPrefetch, Math.max(2, n));
  }

  close(): void {
    clearInterval(this.#sampleTimer);
    clearTimeout(this.#probeTimer);
  }
}
