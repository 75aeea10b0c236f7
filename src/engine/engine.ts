/**
 * The engine decides *when* a request may go and *what to do* with each answer. It knows nothing of
 * HTTP servers, files or terminals: a shell hands it a request's lane and cost and a `send` function that
 * makes one attempt; the engine queues, admits, sends, learns, classifies and retries, and hands back
 * the final answer or a `SluiceError`.
 *
 * Exactly one layer retries, and it is this one.
 */
import { classify } from './classify.js';
import { systemClock, type Clock } from './clock.js';
import { SluiceError, sluiceError, type ErrorCode } from './errors.js';
import { EventHub, type EventListener, type Priority, type SluiceEvent } from './events.js';
import { parseServerView } from './headers.js';
import { bucket, DAY_MS, MINUTE_MS, type BucketSpec, type CostVector } from './limits.js';
import { AdmissionQueue, type Queued } from './queue.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, mayRetry, type RetryPolicy } from './retry.js';
import type { Usage } from './cost.js';
import type { Store } from './store.js';
import type { Classification, Dimension, ServerView } from './types.js';
import { MemoryStore } from '../stores/memory.js';

/** Limits for a lane. Any omitted limit is learned from the server's headers (unless learning is off). */
export interface LimitsConfig {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute. */
  tpm?: number;
  /** Requests per day. */
  rpd?: number;
  /** Tokens per day. */
  tpd?: number;
  /** Requests in flight at once on the lane (this process). */
  maxConcurrency?: number;
  /**
   * How much of a per-minute limit may be spent at once, as milliseconds of the window
   * (`3000` lets 3 s worth of the limit go in a burst).
   * @default 60000 (the full window, as providers do)
   */
  burstMs?: number;
}

/** Identifies a lane: one upstream, one API key (by fingerprint, never the key), one model. */
export interface LaneRef {
  upstream: string;
  keyFingerprint: string;
  model: string;
}

/** The admission cost of a request, as `estimateCost()` returns it. */
export interface CostEstimate {
  promptTokens: number;
  /** n × the request's max tokens; ignored when `maxGiven` is false (the lane's typical completion is used). */
  completionTokens: number;
  n: number;
  maxGiven: boolean;
}

export interface EngineRequest {
  lane: LaneRef;
  cost: CostEstimate;
  /** @default 'default' */
  priority?: Priority;
  /** Fair-share identity. @default 'default' */
  tenant?: string;
  /** Fair-share weight of the tenant. @default 1 */
  weight?: number;
  /** Longest time the request may wait for admission, all waits together. @default engine's `maxWaitMs` */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

/** What one attempt produced. `value` is the shell's own response object, handed back untouched. */
export interface AttemptResult<T> {
  status: number;
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The parsed error body for non-2xx answers (shells read error bodies; they are small). */
  body?: unknown;
  value: T;
  /** Usage when already known (non-streamed JSON answers). */
  usage?: Usage;
}

export interface AttemptInfo {
  /** 1 for the first attempt. */
  number: number;
  /** The engine's request id (for logs). */
  id: number;
}

/** The final answer of a request that reached the upstream: a success, or a fatal answer passed through. */
export interface Execution<T> {
  value: T;
  status: number;
  outcome: 'success' | 'fatal';
  attempts: number;
  /** Time spent waiting for admission, all attempts together. */
  queuedMs: number;
  lane: string;
  /**
   * Whether the engine uses the actual usage of this answer (to settle its ledger or learn the typical
   * completion). When false, and no concurrency limit holds a slot, a shell may skip watching the body.
   */
  wantsUsage: boolean;
  /** Whether the request holds a concurrency slot until `done()` is called. */
  holdsSlot: boolean;
  /** Reports the actual usage (e.g. at the end of a stream) so the lane's ledger is settled. */
  settle(usage: Usage): void;
  /** Reports an error that arrived inside a 200 stream (e.g. a quota error as an SSE event). */
  streamError(classification: Classification): void;
  /** Frees the request's concurrency slot (end of the body). Idempotent. */
  done(): void;
}

export interface EngineOptions {
  /** Limits for every lane, or per lane. @default learn every lane's limits from its headers */
  limits?: LimitsConfig | ((lane: LaneRef) => LimitsConfig | undefined);
  /** Learn limits from `x-ratelimit-*` headers and 429 bodies. @default true */
  learnLimits?: boolean;
  /** Where limiter state lives. @default a MemoryStore (this process only) */
  store?: Store;
  /** @default the system clock */
  clock?: Clock;
  /** @default Math.random */
  random?: () => number;
  /** Backoff for transient failures. */
  retry?: Partial<RetryPolicy>;
  /** Waiting requests per lane before new ones fail with `queue_full`. @default 10000 */
  maxQueue?: number;
  /** 429 answers one request may meet before it fails with `rate_limited`. @default 20 */
  maxRateLimitRetries?: number;
  /** Default admission deadline for requests that name none. @default Infinity (wait as long as the server says) */
  maxWaitMs?: number;
  /** After a quota error, how often one request is let through to see if the quota is back. @default 60000 */
  quotaProbeIntervalMs?: number;
  /**
   * Headroom kept free in every bucket, as milliseconds of its rate, so that requests reaching the server
   * in a different order or later than admitted do not meet a fuller bucket there. Costs only the first
   * burst that much; the steady rate is unchanged.
   * @default 100
   */
  safetyMarginMs?: number;
  /** Completion tokens assumed for requests without a max, until the lane has learned its typical one. @default 64 */
  typicalCompletionTokens?: number;
  /**
   * How the token ledger is settled after the answer: `auto` charges actual usage for requests that named
   * no max (OpenAI charges the max at admission and never refunds it), `usage` always settles to actual
   * usage (servers that count generated tokens), `none` never settles.
   * @default 'auto'
   */
  settlement?: 'auto' | 'usage' | 'none';
  onEvent?: EventListener;
}

interface Ticket extends Queued {
  id: number;
  cost: CostVector;
  deadline: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

/** What a lane knows about its limits and its state in this process. */
class Lane {
  readonly queue = new AdmissionQueue<Ticket>();
  /** Specs learned from the server, by bucket id. */
  readonly learned = new Map<string, BucketSpec>();
  /** Capacities the server has shown to be lower than its stated limit (bursts enforced early). */
  readonly tightened = new Map<string, number>();
  buckets: readonly BucketSpec[] = [];
  /** Requests sent and not yet answered (headers). */
  awaiting = 0;
  /** Requests holding a concurrency slot. */
  inFlight = 0;
  /** One request at a time until the server has spoken (slow start, ramp after 429s, quota probes). */
  probing: boolean;
  tripped: { error: SluiceError; probeAt: number } | undefined;
  consecutive429 = 0;
  /** Multiplier < 1 after `slow_down` answers and persistent 429s, recovering on successes. */
  pace = 1;
  typicalCompletion: number;
  pumping = false;
  wake: (() => void) | undefined;
  lastUsed = 0;

  constructor(
    readonly id: string,
    readonly ref: LaneRef,
    readonly config: LimitsConfig | undefined,
    readonly learn: boolean,
    typicalCompletion: number,
    readonly safetyMarginMs: number,
  ) {
    this.typicalCompletion = typicalCompletion;
    // Until the server has answered once, one request at a time: even with configured limits the
    // server's real burst may be shorter, and the first answer's headers tell.
    this.probing = learn;
    this.rebuild();
  }

  /** Recomputes the effective buckets: configured ∩ learned ∩ tightened, scaled by the pace. */
  rebuild(): void {
    const specs = new Map<string, BucketSpec>();
    const c = this.config;
    const burst = c?.burstMs ?? MINUTE_MS;
    const add = (spec: BucketSpec) => {
      const prior = specs.get(spec.id);
      specs.set(
        spec.id,
        prior
          ? {
              ...prior,
              limit: Math.min(prior.limit, spec.limit),
              capacity: Math.min(prior.capacity, spec.capacity),
            }
          : spec,
      );
    };
    if (c?.rpm) add(bucket('requests', c.rpm, MINUTE_MS, burst));
    if (c?.tpm) add(bucket('tokens', c.tpm, MINUTE_MS, burst));
    if (c?.rpd) add(bucket('requests', c.rpd, DAY_MS));
    if (c?.tpd) add(bucket('tokens', c.tpd, DAY_MS));
    for (const spec of this.learned.values()) add(spec);
    const out: BucketSpec[] = [];
    for (const spec of specs.values()) {
      const tight = this.tightened.get(spec.id);
      const capacity = Math.min(spec.capacity, tight ?? Infinity) * this.pace;
      const limit = spec.limit * this.pace;
      out.push({
        ...spec,
        limit,
        capacity: Math.max(1, capacity),
        margin: (limit * this.safetyMarginMs) / spec.windowMs,
      });
    }
    this.buckets = out;
  }

  /** Whether the concurrency gate lets one more request go now. */
  gateOpen(): boolean {
    if (this.probing && this.awaiting > 0) return false;
    const max = this.config?.maxConcurrency;
    return !max || this.inFlight < max;
  }
}

const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens', 'inputTokens', 'outputTokens'];

/** Lane-level facts for metrics and dashboards. */
export interface LaneStats {
  lane: string;
  model: string;
  upstream: string;
  queued: number;
  inFlight: number;
  tripped: boolean;
  cooldownUntil: number;
  buckets: {
    id: string;
    dimension: Dimension;
    limit: number;
    windowMs: number;
    capacity: number;
    level: number;
  }[];
}

export class Engine {
  readonly #lanes = new Map<string, Lane>();
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #retry: RetryPolicy;
  readonly #events = new EventHub();
  readonly #options: EngineOptions;
  #seq = 0;
  #sweepAt = 0;

  constructor(options: EngineOptions = {}) {
    this.#options = options;
    this.#store = options.store ?? new MemoryStore();
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (options.onEvent) this.#events.on(options.onEvent);
    validatePositive('maxQueue', options.maxQueue);
    validatePositive('typicalCompletionTokens', options.typicalCompletionTokens);
    if (typeof options.limits === 'object') validateLimits(options.limits);
  }

  get clock(): Clock {
    return this.#clock;
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  on(listener: EventListener): () => void {
    return this.#events.on(listener);
  }

  /** The lane id for a lane reference (upstream | key fingerprint | model). */
  laneId(ref: LaneRef): string {
    return `${ref.upstream}|${ref.keyFingerprint}|${ref.model}`;
  }

  #lane(ref: LaneRef): Lane {
    const id = this.laneId(ref);
    let lane = this.#lanes.get(id);
    if (!lane) {
      this.#forgetIdleLanes();
      const limits = this.#options.limits;
      const config = typeof limits === 'function' ? limits(ref) : limits;
      if (typeof limits === 'function' && config) validateLimits(config);
      lane = new Lane(
        id,
        ref,
        config,
        this.#options.learnLimits ?? true,
        this.#options.typicalCompletionTokens ?? 64,
        this.#options.safetyMarginMs ?? 100,
      );
      this.#lanes.set(id, lane);
    }
    lane.lastUsed = this.#clock.now();
    return lane;
  }

  /**
   * Drops lanes unused for a day (nothing queued or awaiting an answer, not tripped), so a process that meets
   * many keys or models does not grow without bound. At most one sweep a minute.
   */
  #forgetIdleLanes(): void {
    const now = this.#clock.now();
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + 60_000;
    for (const [id, lane] of this.#lanes) {
      const idle = lane.queue.size === 0 && lane.awaiting === 0 && !lane.tripped;
      if (idle && now - lane.lastUsed > 86_400_000) this.#lanes.delete(id);
    }
  }

  #emit(event: SluiceEvent): void {
    if (this.#events.active) this.#events.emit(event);
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
    const id = ++this.#seq;
    const start = this.#clock.now();
    const maxWaitMs = request.maxWaitMs ?? this.#options.maxWaitMs ?? Infinity;
    const estimatedTokens =
      request.cost.promptTokens +
      (request.cost.maxGiven ? request.cost.completionTokens : request.cost.n * lane.typicalCompletion);
    const cost: CostVector = { requests: 1, tokens: estimatedTokens };
    const ticketBase = {
      id,
      priority: request.priority ?? 'default',
      tenant: request.tenant ?? 'default',
      weight: request.weight ?? 1,
      share: Math.max(1, estimatedTokens),
      cost,
      deadline: start + maxWaitMs,
    };
    let attempts = 0;
    let queuedMs = 0;
    let rateLimited = 0;
    let transient = 0;
    let firstSentAt: number | undefined;
    let front = false;

    const fail = (code: ErrorCode | 'fatal', status?: number): void =>
      this.#emit({
        type: 'failed',
        at: this.#clock.now(),
        lane: lane.id,
        id,
        code,
        ...(status === undefined ? {} : { status }),
        attempts,
      });

    for (;;) {
      this.#checkTripped(lane);
      const enqueuedAt = this.#clock.now();
      try {
        await this.#admit(lane, ticketBase, front, request.signal);
      } catch (err) {
        if (err instanceof SluiceError) fail(err.code);
        throw err;
      }
      const admittedAt = this.#clock.now();
      queuedMs += admittedAt - enqueuedAt;
      this.#emit({
        type: 'admitted',
        at: admittedAt,
        lane: lane.id,
        id,
        waitedMs: admittedAt - enqueuedAt,
        tokens: estimatedTokens,
      });
      attempts++;
      firstSentAt ??= admittedAt;
      this.#emit({ type: 'sent', at: admittedAt, lane: lane.id, id, attempt: attempts });

      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        lane.inFlight--;
        lane.wake?.();
      };
      let result: AttemptResult<T>;
      try {
        result = await send({ number: attempts, id });
      } catch (err) {
        lane.awaiting--;
        release();
        if (request.signal?.aborted) throw request.signal.reason ?? err;
        if (
          !(await this.#backoff(lane, id, attempts, ++transient, firstSentAt, 0, 'network', request.signal))
        ) {
          fail('upstream_error');
          throw sluiceError(
            'upstream_error',
            `The upstream could not be reached after ${attempts} attempt(s): ${describe(err)}. Check the base URL and the network, or raise retry.maxAttempts.`,
            { cause: err, lane: lane.id, attempts },
          );
        }
        front = true;
        continue;
      }

      const now = this.#clock.now();
      lane.awaiting--;
      const view = parseServerView(result.headers, now, result.body);
      const cls = classify(result.status, view, result.body);
      this.#emit({
        type: 'answered',
        at: now,
        lane: lane.id,
        id,
        attempt: attempts,
        status: result.status,
        outcome: cls.outcome,
        latencyMs: now - admittedAt,
      });
      const levels = this.#learn(lane, view, now);
      if (cls.outcome !== 'rate_limited' && cls.outcome !== 'slow_down')
        this.#raiseToServer(lane, levels, now);

      switch (cls.outcome) {
        case 'success':
        case 'fatal': {
          if (cls.outcome === 'success') this.#onSuccess(lane, now);
          else {
            lane.probing = false;
            fail('fatal', result.status);
          }
          lane.wake?.();
          const execution = this.#execution(
            lane,
            id,
            result,
            cls.outcome,
            attempts,
            queuedMs,
            request.cost,
            estimatedTokens,
            release,
          );
          if (cls.outcome === 'success') {
            this.#emit({ type: 'succeeded', at: now, lane: lane.id, id, attempts, totalMs: now - start });
            if (result.usage) execution.settle(result.usage);
          }
          return execution;
        }
        case 'rate_limited':
        case 'slow_down': {
          release();
          rateLimited++;
          // The server refused this attempt: its figures (headers, quoted usage) replace our charge.
          await this.#store.adjust(lane.id, lane.buckets, negate(cost), now);
          this.#raiseToServer(lane, levels, now);
          const wait = await this.#onRateLimited(lane, cls, now, id, attempts);
          if (rateLimited > (this.#options.maxRateLimitRetries ?? 20)) {
            fail('rate_limited', result.status);
            throw this.#upstreamError(
              'rate_limited',
              result,
              view,
              lane,
              attempts,
              wait,
              `The upstream answered 429 to ${rateLimited} attempts of this request. Lower the load, raise maxRateLimitRetries, or check the account's limits.`,
            );
          }
          if (now + wait > ticketBase.deadline) {
            fail('deadline_exceeded', result.status);
            throw this.#upstreamError(
              'deadline_exceeded',
              result,
              view,
              lane,
              attempts,
              wait,
              `The upstream asks to wait ${Math.ceil(wait)} ms, beyond this request's deadline (max wait ${maxWaitMs} ms). Raise the max wait or retry later.`,
            );
          }
          front = true;
          continue;
        }
        case 'request_too_large': {
          release();
          fail('request_too_large', result.status);
          throw this.#upstreamError(
            'request_too_large',
            result,
            view,
            lane,
            attempts,
            undefined,
            `The upstream refused the request as too large for the lane's token limit${cls.quoted ? ` (limit ${cls.quoted.limit}, requested ${cls.quoted.requested})` : ''}. Reduce the prompt or max_tokens; retrying cannot help.`,
          );
        }
        case 'quota_exhausted': {
          release();
          const error = this.#upstreamError(
            'quota_exhausted',
            result,
            view,
            lane,
            attempts,
            undefined,
            `The account's quota is exhausted (${cls.code ?? cls.type ?? 'insufficient_quota'}): ${cls.message ?? 'check the plan and billing details'}. Fix billing, then retry; Sluice lets one request through every ${this.#probeInterval() / 1000}s to check.`,
          );
          this.#trip(lane, error, now, id);
          fail('quota_exhausted', result.status);
          throw error;
        }
        case 'transient': {
          release();
          const minDelay = cls.waitMs ?? 0;
          if (
            !(await this.#backoff(
              lane,
              id,
              attempts,
              ++transient,
              firstSentAt,
              minDelay,
              'transient',
              request.signal,
            ))
          ) {
            fail('upstream_error', result.status);
            throw this.#upstreamError(
              'upstream_error',
              result,
              view,
              lane,
              attempts,
              undefined,
              `The upstream failed with ${result.status} on ${attempts} attempt(s). It may be down; retry later or raise retry.maxAttempts.`,
            );
          }
          front = true;
          continue;
        }
      }
    }
  }

  /**
   * Waits out the backoff before retry number `retry` of a transient failure (at least `minDelayMs`, the
   * server's own wait). Returns false, without waiting, when the retry policy allows no more attempts.
   */
  async #backoff(
    lane: Lane,
    id: number,
    attempts: number,
    retry: number,
    firstSentAt: number,
    minDelayMs: number,
    reason: 'transient' | 'network',
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const now = this.#clock.now();
    const delay = Math.max(backoffDelay(retry, this.#retry, this.#random), minDelayMs);
    if (!mayRetry(attempts, now - firstSentAt, delay, this.#retry)) return false;
    this.#emit({ type: 'retried', at: now, lane: lane.id, id, attempt: attempts, delayMs: delay, reason });
    await this.#clock.sleep(delay, signal);
    return true;
  }

  #probeInterval(): number {
    return this.#options.quotaProbeIntervalMs ?? 60_000;
  }

  #upstreamError(
    code: ErrorCode,
    result: AttemptResult<unknown>,
    view: ServerView,
    lane: Lane,
    attempts: number,
    retryAfterMs: number | undefined,
    message: string,
  ): SluiceError {
    return sluiceError(code, message, {
      status: result.status,
      body: result.body,
      lane: lane.id,
      attempts,
      ...(view.requestId === undefined ? {} : { requestId: view.requestId }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  #execution<T>(
    lane: Lane,
    id: number,
    result: AttemptResult<T>,
    outcome: 'success' | 'fatal',
    attempts: number,
    queuedMs: number,
    cost: CostEstimate,
    estimatedTokens: number,
    release: () => void,
  ): Execution<T> {
    let settled = false;
    return {
      value: result.value,
      status: result.status,
      outcome,
      attempts,
      queuedMs,
      lane: lane.id,
      wantsUsage: outcome === 'success' && (!cost.maxGiven || this.#options.settlement === 'usage'),
      holdsSlot: lane.config?.maxConcurrency !== undefined,
      settle: (usage) => {
        if (settled || outcome !== 'success') return;
        settled = true;
        this.#settle(lane, id, usage, cost, estimatedTokens);
      },
      streamError: (cls) => this.#onStreamError(lane, id, cls),
      done: release,
    };
  }

  #settle(lane: Lane, id: number, usage: Usage, cost: CostEstimate, estimatedTokens: number): void {
    const completion = usage.completionTokens;
    if (!cost.maxGiven && completion !== undefined) {
      lane.typicalCompletion = Math.max(
        1,
        0.8 * lane.typicalCompletion + (0.2 * completion) / Math.max(1, cost.n),
      );
    }
    const mode = this.#options.settlement ?? 'auto';
    if (mode === 'none' || (mode === 'auto' && cost.maxGiven)) return;
    const actual =
      usage.totalTokens ??
      (usage.promptTokens ?? cost.promptTokens) + (completion ?? (cost.maxGiven ? cost.completionTokens : 0));
    const delta = actual - estimatedTokens;
    const now = this.#clock.now();
    this.#emit({ type: 'settled', at: now, lane: lane.id, id, estimatedTokens, actualTokens: actual });
    if (delta !== 0) void this.#store.adjust(lane.id, lane.buckets, { tokens: delta }, now);
  }

  #onStreamError(lane: Lane, id: number, cls: Classification): void {
    const now = this.#clock.now();
    if (cls.outcome === 'quota_exhausted') {
      const error = sluiceError(
        'quota_exhausted',
        `The account's quota is exhausted (reported inside a stream: ${cls.message ?? cls.code ?? 'insufficient_quota'}). Fix billing, then retry.`,
        { lane: lane.id, ...(cls.code ? { body: { error: { code: cls.code, message: cls.message } } } : {}) },
      );
      this.#trip(lane, error, now, id);
    } else if (cls.outcome === 'rate_limited' || cls.outcome === 'slow_down') {
      void this.#onRateLimited(lane, cls, now, id, 0);
    }
  }

  #onSuccess(lane: Lane, now: number): void {
    lane.consecutive429 = 0;
    lane.probing = false;
    if (lane.pace < 1) {
      lane.pace = Math.min(1, lane.pace + 0.02);
      lane.rebuild();
    }
    if (lane.tripped) {
      lane.tripped = undefined;
      this.#emit({ type: 'lane_reset', at: now, lane: lane.id, id: 0 });
    }
  }

  /** Reacts to a 429: pause the lane, sync the mirror to the server's figures, tighten if needed. */
  async #onRateLimited(
    lane: Lane,
    cls: Classification,
    now: number,
    id: number,
    attempt: number,
  ): Promise<number> {
    lane.consecutive429++;
    lane.probing = true;
    let wait = cls.waitMs;
    const q = cls.quoted;
    if (q && q.used !== undefined) {
      const windowMs = q.period === 'day' ? DAY_MS : MINUTE_MS;
      const spec = bucket(q.dimension, q.limit, windowMs);
      if (wait !== undefined) {
        // The server refused at level `used`: its capacity is used + requested − wait × rate.
        const capacity = q.used + q.requested - (wait * q.limit) / windowMs;
        if (capacity > 0 && capacity < q.limit * 0.999) {
          lane.tightened.set(
            spec.id,
            Math.min(lane.tightened.get(spec.id) ?? Infinity, Math.floor(capacity)),
          );
        }
      }
      if (lane.learn && !lane.learned.has(spec.id)) lane.learned.set(spec.id, spec);
      lane.rebuild();
      await this.#store.raise(lane.id, lane.buckets, { [spec.id]: q.used }, now);
    } else if (lane.consecutive429 >= 3) {
      // 429s persist and the server gives no figures: assume our mirror is too generous.
      lane.pace = Math.max(0.2, lane.pace * 0.8);
      lane.rebuild();
    }
    if (cls.outcome === 'slow_down') {
      lane.pace = Math.max(0.2, lane.pace * 0.7);
      lane.rebuild();
    }
    if (wait === undefined) {
      const ceiling = Math.min(60_000, 1000 * 2 ** Math.min(10, lane.consecutive429 - 1));
      wait = ceiling / 2 + (this.#random() * ceiling) / 2;
    }
    await this.#store.cooldown(lane.id, now + wait, now);
    this.#emit({
      type: 'rate_limited',
      at: now,
      lane: lane.id,
      id,
      attempt,
      waitMs: wait,
      perDay: cls.perDay ?? false,
    });
    return wait;
  }

  /** Learns limits from the server's headers; returns the bucket levels the server reported. */
  #learn(lane: Lane, view: ServerView, now: number): Record<string, number> {
    const levels: Record<string, number> = {};
    if (!lane.learn) return levels;
    let changed = false;
    for (const dimension of DIMENSIONS) {
      const b = view.buckets[dimension];
      if (!b || b.limit === undefined || !(b.limit > 0)) continue;
      const limit = b.limit;
      const reset = b.resetMs ?? 0;
      let windowMs = MINUTE_MS;
      let level = (reset * limit) / windowMs;
      let capacity = b.remaining === undefined ? limit : b.remaining + level;
      if (capacity > limit * 1.02 + 1) {
        // Only a per-day bucket explains this reset: the headers describe the binding (daily) bucket.
        windowMs = DAY_MS;
        level = (reset * limit) / windowMs;
        capacity = b.remaining === undefined ? limit : b.remaining + level;
      }
      capacity = Math.max(1, Math.min(limit, Math.floor(capacity)));
      const spec = { ...bucket(dimension, limit, windowMs), capacity };
      const prior = lane.learned.get(spec.id);
      if (
        !prior ||
        prior.limit !== spec.limit ||
        Math.abs(prior.capacity - spec.capacity) > Math.max(2, spec.capacity * 0.01)
      ) {
        lane.learned.set(spec.id, spec);
        changed = true;
      }
      levels[spec.id] = level;
    }
    if (changed) {
      lane.rebuild();
      const limits: Record<string, number> = {};
      for (const s of lane.buckets) limits[s.id] = s.limit;
      this.#emit({ type: 'limits_learned', at: now, lane: lane.id, id: 0, limits });
    }
    return levels;
  }

  /** Raises the local levels to the server's (from its headers); never lowers them. */
  #raiseToServer(lane: Lane, levels: Record<string, number>, now: number): void {
    for (const _ in levels) {
      void this.#store.raise(lane.id, lane.buckets, levels, now);
      return;
    }
  }

  #trip(lane: Lane, error: SluiceError, now: number, id: number): void {
    lane.tripped = { error, probeAt: now + this.#probeInterval() };
    this.#emit({ type: 'lane_tripped', at: now, lane: lane.id, id, reason: error.message });
    for (const ticket of lane.queue.drain()) {
      ticket.cleanup();
      ticket.reject(this.#trippedError(lane));
    }
  }

  #trippedError(lane: Lane): SluiceError {
    const t = lane.tripped!;
    return sluiceError('quota_exhausted', t.error.message, {
      lane: lane.id,
      retryAfterMs: Math.max(0, t.probeAt - this.#clock.now()),
      ...(t.error.status === undefined ? {} : { status: t.error.status }),
      ...(t.error.body === undefined ? {} : { body: t.error.body }),
    });
  }

  /** Fails fast on a tripped lane, except for one probe per interval. */
  #checkTripped(lane: Lane): void {
    const t = lane.tripped;
    if (!t) return;
    const now = this.#clock.now();
    if (now < t.probeAt) throw this.#trippedError(lane);
    t.probeAt = now + this.#probeInterval();
  }

  /** Waits for admission. Rejects with deadline_exceeded, queue_full, request_too_large, quota_exhausted or the abort reason. */
  async #admit(
    lane: Lane,
    base: Omit<Ticket, 'resolve' | 'reject' | 'cleanup' | 'cancelled'>,
    front: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    // Fast path: nothing waits and the gate is open, so the request needs no queue if it fits now.
    if (lane.queue.size === 0 && lane.gateOpen()) {
      const pending = this.#store.reserve(lane.id, lane.buckets, base.cost, this.#clock.now());
      const reservation = pending instanceof Promise ? await pending : pending;
      if (reservation.ok && lane.queue.size === 0 && lane.gateOpen()) {
        lane.awaiting++;
        lane.inFlight++;
        return;
      }
      if (reservation.ok)
        await this.#store.adjust(lane.id, lane.buckets, negate(base.cost), this.#clock.now());
      else if (reservation.waitMs === Infinity) throw this.#tooLarge(lane, base.cost, reservation.blockedBy);
    }
    const maxQueue = this.#options.maxQueue ?? 10_000;
    if (!front && lane.queue.size >= maxQueue) {
      const wait = await this.#estimateWait(lane, base);
      throw sluiceError(
        'queue_full',
        `The lane's queue is full (${maxQueue} waiting). Retry after ${Math.ceil(wait / 1000)}s or raise maxQueue.`,
        {
          lane: lane.id,
          retryAfterMs: wait,
        },
      );
    }
    const now = this.#clock.now();
    if (Number.isFinite(base.deadline)) {
      const wait = await this.#estimateWait(lane, base);
      if (now + wait > base.deadline) {
        throw sluiceError(
          'deadline_exceeded',
          `The request would wait about ${Math.ceil(wait)} ms for admission, beyond its deadline (${Math.max(0, Math.round(base.deadline - now))} ms left). Raise the max wait, lower the priority of other work, or retry later.`,
          { lane: lane.id, retryAfterMs: wait },
        );
      }
    }
    await new Promise<void>((resolve, reject) => {
      const timer = Number.isFinite(base.deadline) ? new AbortController() : undefined;
      const onAbort = () => {
        if (ticket.cancelled) return;
        lane.queue.cancel(ticket);
        ticket.cleanup();
        reject(signal!.reason);
        lane.wake?.();
      };
      const ticket: Ticket = {
        ...base,
        cancelled: false,
        resolve,
        reject,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          timer?.abort();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timer) {
        this.#clock.sleep(base.deadline - now, timer.signal).then(
          () => {
            if (ticket.cancelled) return;
            lane.queue.cancel(ticket);
            ticket.cleanup();
            reject(
              sluiceError(
                'deadline_exceeded',
                `The request waited its whole deadline without being admitted. Raise the max wait or retry later.`,
                { lane: lane.id },
              ),
            );
            lane.wake?.();
          },
          () => {},
        );
      }
      lane.queue.add(ticket, front);
      this.#emit({
        type: 'queued',
        at: now,
        lane: lane.id,
        id: base.id,
        priority: base.priority,
        tenant: base.tenant,
        tokens: base.cost.tokens ?? 0,
        queueLength: lane.queue.size,
      });
      this.#pump(lane);
    });
  }

  /** A cheap estimate of how long a new entry of this priority would wait (for deadlines and Retry-After). */
  async #estimateWait(lane: Lane, base: Pick<Ticket, 'priority' | 'cost'>): Promise<number> {
    if (lane.buckets.length === 0) return 0;
    const now = this.#clock.now();
    const snapshot = await this.#store.snapshot(lane.id, lane.buckets, now);
    const ahead: CostVector = { ...base.cost };
    for (const t of lane.queue.ahead(base.priority)) {
      for (const d of DIMENSIONS) if (t.cost[d]) ahead[d] = (ahead[d] ?? 0) + t.cost[d]!;
    }
    let wait = Math.max(0, snapshot.cooldownUntil - now);
    for (const spec of lane.buckets) {
      const over = (snapshot.levels[spec.id] ?? 0) + (ahead[spec.dimension] ?? 0) - spec.capacity;
      if (over > 0) wait = Math.max(wait, (over * spec.windowMs) / spec.limit);
    }
    return wait;
  }

  /** Admits the lane's waiting requests in order, as fast as its buckets allow. One pump per lane. */
  #pump(lane: Lane): void {
    if (lane.pumping) {
      lane.wake?.();
      return;
    }
    lane.pumping = true;
    void this.#pumpLoop(lane).finally(() => {
      lane.pumping = false;
      if (lane.queue.size > 0) this.#pump(lane);
    });
  }

  async #pumpLoop(lane: Lane): Promise<void> {
    while (lane.queue.size > 0) {
      if (!lane.gateOpen()) {
        await this.#waitForWake(lane, Infinity);
        continue;
      }
      const head = lane.queue.peek();
      if (!head) return;
      const now = this.#clock.now();
      let reservation;
      try {
        reservation = await this.#store.reserve(lane.id, lane.buckets, head.cost, now);
      } catch (err) {
        this.#take(lane, head);
        head.cleanup();
        head.reject(err);
        continue;
      }
      if (head.cancelled) {
        if (reservation.ok) await this.#store.adjust(lane.id, lane.buckets, negate(head.cost), now);
        continue;
      }
      if (reservation.ok) {
        this.#take(lane, head);
        head.cleanup();
        lane.awaiting++;
        lane.inFlight++;
        head.resolve();
        continue;
      }
      if (reservation.waitMs === Infinity) {
        this.#take(lane, head);
        head.cleanup();
        head.reject(this.#tooLarge(lane, head.cost, reservation.blockedBy));
        continue;
      }
      if (now + reservation.waitMs > head.deadline) {
        this.#take(lane, head);
        head.cleanup();
        head.reject(
          sluiceError(
            'deadline_exceeded',
            `The request would wait ${Math.ceil(reservation.waitMs)} ms for admission, beyond its deadline. Raise the max wait or retry later.`,
            {
              lane: lane.id,
              retryAfterMs: reservation.waitMs,
            },
          ),
        );
        continue;
      }
      await this.#waitForWake(lane, reservation.waitMs);
    }
  }

  #tooLarge(lane: Lane, cost: CostVector, blockedBy: string | undefined): SluiceError {
    const spec = lane.buckets.find((b) => b.id === blockedBy);
    const dimension = spec?.dimension ?? 'tokens';
    return sluiceError(
      'request_too_large',
      `The request needs ${cost[dimension]} ${dimension} but the lane can admit at most ${Math.floor(spec?.capacity ?? 0)} at once (limit ${spec?.limit ?? '?'} per ${(spec?.windowMs ?? MINUTE_MS) / 1000}s). Reduce the prompt or max_tokens, or raise the burst.`,
      { lane: lane.id },
    );
  }

  /** Removes a specific entry (the head may have changed while the store answered). */
  #take(lane: Lane, ticket: Ticket): void {
    if (lane.queue.peek() === ticket) lane.queue.shift();
    else lane.queue.cancel(ticket);
  }

  /** Sleeps until `ms` has passed or something changed on the lane (new entry, a slot freed). */
  #waitForWake(lane: Lane, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = new AbortController();
      const done = () => {
        if (lane.wake === done) lane.wake = undefined;
        timer.abort();
        resolve();
      };
      lane.wake = done;
      if (Number.isFinite(ms)) this.#clock.sleep(ms, timer.signal).then(done, () => {});
    });
  }

  /** Lets a tripped lane run again (an operator fixed billing) and forgets its cooldown. */
  async resetLane(laneId: string): Promise<boolean> {
    const lane = this.#lanes.get(laneId);
    if (!lane) return false;
    lane.tripped = undefined;
    lane.consecutive429 = 0;
    lane.pace = 1;
    lane.tightened.clear();
    lane.rebuild();
    await this.#store.clear(laneId);
    this.#emit({ type: 'lane_reset', at: this.#clock.now(), lane: laneId, id: 0 });
    lane.wake?.();
    return true;
  }

  /** A snapshot of every lane, for metrics and dashboards. */
  async stats(): Promise<LaneStats[]> {
    const now = this.#clock.now();
    const out: LaneStats[] = [];
    for (const lane of this.#lanes.values()) {
      const snap = await this.#store.snapshot(lane.id, lane.buckets, now);
      out.push({
        lane: lane.id,
        model: lane.ref.model,
        upstream: lane.ref.upstream,
        queued: lane.queue.size,
        inFlight: lane.inFlight,
        tripped: lane.tripped !== undefined,
        cooldownUntil: snap.cooldownUntil,
        buckets: lane.buckets.map((b) => ({ ...b, level: snap.levels[b.id] ?? 0 })),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#store.close?.();
  }
}

function negate(cost: CostVector): CostVector {
  const out: CostVector = {};
  for (const d of DIMENSIONS) if (cost[d]) out[d] = -cost[d]!;
  return out;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}

function validatePositive(name: string, value: number | undefined): void {
  if (value !== undefined && !(typeof value === 'number' && value > 0)) {
    throw sluiceError('invalid_option', `Expected \`${name}\` to be a number above 0, got ${String(value)}.`);
  }
}

function validateLimits(limits: LimitsConfig): void {
  for (const key of ['rpm', 'tpm', 'rpd', 'tpd', 'maxConcurrency', 'burstMs'] as const) {
    validatePositive(`limits.${key}`, limits[key]);
  }
}

export function createEngine(options?: EngineOptions): Engine {
  return new Engine(options);
}
