/**
 * What the engine does with each answer: one method per row of the outcome table in
 * docs/architecture.md, with the messages its failures carry. `read` turns an attempt's answer into an
 * outcome; the row's method then settles, retries (resolving, with the run set to go back to the head
 * of its class) or hands back the error to throw.
 */
import type { Breaker } from './breaker.js';
import { classify } from './classify.js';
import type { EngineContext } from './context.js';
import { sluiceError, type ErrorCode, type SluiceError } from './errors.js';
import { parseServerView } from './headers.js';
import type { Lane } from './lane.js';
import type { Learner } from './learn.js';
import type { AttemptResult, Execution } from './request.js';
import { backoffDelay, mayRetry } from './retry.js';
import type { Run } from './run.js';
import { settleUsage, wantsUsage } from './settlement.js';
import { refund } from './store.js';
import type { Classification, Outcome } from './types.js';

export class Outcomes {
  readonly #ctx: EngineContext;
  readonly #breaker: Breaker;
  readonly #learner: Learner;

  constructor(ctx: EngineContext, breaker: Breaker, learner: Learner) {
    this.#ctx = ctx;
    this.#breaker = breaker;
    this.#learner = learner;
  }

  /** Reads an attempt's answer onto the run: the server's view, its outcome, and the limits it shows. */
  read<T>(run: Run<T>, result: AttemptResult<T>): Outcome {
    const { lane } = run;
    const now = this.#ctx.clock.now();
    lane.awaiting--;
    const view = parseServerView(
      result.headers,
      now,
      result.body,
      result.lowerCaseHeaders ? LOWER : undefined,
    );
    const cls = classify(result.status, view, result.body);
    this.#ctx.emit({
      type: 'answered',
      at: now,
      lane: lane.id,
      id: run.id,
      attempt: run.attempts,
      status: result.status,
      outcome: cls.outcome,
      latencyMs: now - run.sentAt,
    });
    run.result = result;
    run.view = view;
    run.classification = cls;
    run.answeredAt = now;
    run.levels = this.#learner.fromHeaders(lane, view, now);
    if (cls.outcome !== 'rate_limited' && cls.outcome !== 'slow_down') {
      this.#learner.raiseToServer(lane, run.levels, now, run.sentAt);
    }
    return cls.outcome;
  }

  /** success: the lane is open, the answer goes back; the ledger is settled when the usage is known. */
  success<T>(run: Run<T>): Execution<T> {
    const now = run.answeredAt;
    this.#learner.succeeded(run.lane);
    this.#breaker.succeeded(run.lane, now);
    run.lane.wake?.();
    const execution = this.#execution(run, 'success');
    this.#ctx.emit({
      type: 'succeeded',
      at: now,
      lane: run.lane.id,
      id: run.id,
      attempts: run.attempts,
      totalMs: now - run.start,
    });
    if (run.result!.usage) execution.settle(run.result!.usage);
    return execution;
  }

  /** fatal: the upstream's answer goes back unchanged. */
  fatal<T>(run: Run<T>): Execution<T> {
    run.lane.answeredFatal();
    run.fail('fatal', run.result!.status);
    run.lane.wake?.();
    return this.#execution(run, 'fatal');
  }

  /**
   * rate_limited and slow_down: the server's figures replace the attempt's charge, the whole lane pauses
   * for the server's wait, and the run goes back to the head of its class. Throws `rate_limited` after
   * too many 429s, `deadline_exceeded` when the wait passes the run's deadline.
   */
  async rateLimited(run: Run<unknown>): Promise<void> {
    const { lane } = run;
    const now = run.answeredAt;
    run.release();
    run.rateLimited++;
    await refund(this.#ctx.store, lane.id, run.buckets, run.cost, now, lane.learnedVersion);
    this.#learner.raiseToServer(lane, run.levels, now, run.sentAt);
    const wait = await this.#pause(lane, run.classification!, now, run.id, run.attempts);
    if (run.rateLimited > this.#ctx.maxRateLimitRetries) {
      run.fail('rate_limited', run.result!.status);
      throw this.#upstreamError(
        run,
        'rate_limited',
        wait,
        `The upstream answered 429 to ${run.rateLimited} attempts of this request. Lower the load, raise maxRateLimitRetries, or check the account's limits.`,
      );
    }
    if (now + wait > run.deadline) {
      run.fail('deadline_exceeded', run.result!.status);
      throw this.#upstreamError(
        run,
        'deadline_exceeded',
        wait,
        `The upstream asks to wait ${Math.ceil(wait)} ms, beyond this request's deadline (max wait ${run.maxWaitMs} ms). Raise the max wait or retry later.`,
      );
    }
    run.front = true;
  }

  /**
   * request_too_large: fails now; retrying cannot help. The server counted nothing, so neither does the
   * lane (a first request, sent before any limit was known, was charged in full). Returns the error to
   * throw.
   */
  async requestTooLarge(run: Run<unknown>): Promise<SluiceError> {
    run.release();
    await refund(
      this.#ctx.store,
      run.lane.id,
      run.buckets,
      run.cost,
      run.answeredAt,
      run.lane.learnedVersion,
    );
    run.fail('request_too_large', run.result!.status);
    const quoted = run.classification!.quoted;
    return this.#upstreamError(
      run,
      'request_too_large',
      undefined,
      `The upstream refused the request as too large for the lane's token limit${quoted ? ` (limit ${quoted.limit}, requested ${quoted.requested})` : ''}. Reduce the prompt or max_tokens; retrying cannot help.`,
    );
  }

  /** quota_exhausted: fails now and trips the lane. Returns the error to throw. */
  quotaExhausted(run: Run<unknown>): SluiceError {
    run.release();
    const cls = run.classification!;
    const error = this.#upstreamError(
      run,
      'quota_exhausted',
      undefined,
      `The account's quota is exhausted (${cls.code ?? cls.type ?? 'insufficient_quota'}): ${clause(cls.message ?? 'check the plan and billing details')}. Fix billing, then retry; Sluice lets one request through every ${this.#ctx.quotaProbeIntervalMs / 1000}s to check.`,
    );
    this.#breaker.trip(run.lane, error, run.answeredAt, run.id);
    run.fail('quota_exhausted', run.result!.status);
    return error;
  }

  /** transient: waits out the backoff (at least the server's wait), then goes again; `upstream_error` when out of retries. */
  async transient(run: Run<unknown>): Promise<void> {
    run.release();
    if (!(await this.#backoff(run, run.classification!.waitMs ?? 0, 'transient'))) {
      const status = run.result!.status;
      run.fail('upstream_error', status);
      throw this.#upstreamError(
        run,
        'upstream_error',
        undefined,
        `The upstream failed with ${status} on ${run.attempts} attempt(s). It may be down; retry later or raise retry.maxAttempts.`,
      );
    }
    run.front = true;
  }

  /** No answer at all (`send` threw): retried like a transient failure, unless the caller aborted. */
  async unreachable(run: Run<unknown>, err: unknown): Promise<void> {
    run.lane.awaiting--;
    run.release();
    const signal = run.signal;
    if (signal?.aborted) throw signal.reason ?? err;
    if (!(await this.#backoff(run, 0, 'network'))) {
      run.fail('upstream_error');
      throw sluiceError(
        'upstream_error',
        `The upstream could not be reached after ${run.attempts} attempt(s): ${describe(err)}. Check the base URL and the network, or raise retry.maxAttempts.`,
        { cause: err, lane: run.lane.id, attempts: run.attempts },
      );
    }
    run.front = true;
  }

  /** An error inside a 200 stream: a quota error trips the lane, a rate limit pauses it. */
  streamError(run: Run<unknown>, cls: Classification): void {
    const now = this.#ctx.clock.now();
    if (cls.outcome === 'quota_exhausted') {
      const error = sluiceError(
        'quota_exhausted',
        `The account's quota is exhausted (reported inside a stream: ${clause(cls.message ?? cls.code ?? 'insufficient_quota')}). Fix billing, then retry.`,
        {
          lane: run.lane.id,
          ...(cls.code ? { body: { error: { code: cls.code, message: cls.message } } } : {}),
        },
      );
      this.#breaker.trip(run.lane, error, now, run.id);
    } else if (cls.outcome === 'rate_limited' || cls.outcome === 'slow_down') {
      void this.#pause(run.lane, cls, now, run.id, 0);
    }
  }

  /**
   * Pauses the whole lane after a 429 for the server's wait (or, when it gave none, an exponential
   * backoff with jitter), learning what the 429 says about the limits. Returns the wait.
   */
  async #pause(lane: Lane, cls: Classification, now: number, id: number, attempt: number): Promise<number> {
    lane.rateLimited();
    await this.#learner.fromRateLimit(lane, cls, now);
    let wait = cls.waitMs;
    if (wait === undefined) {
      const ceiling = Math.min(60_000, 1000 * 2 ** Math.min(10, lane.consecutive429 - 1));
      wait = ceiling / 2 + (this.#ctx.random() * ceiling) / 2;
    }
    await this.#ctx.store.cooldown(lane.id, now + wait, now);
    this.#ctx.emit({
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

  /**
   * Waits out the backoff before the next retry of a transient failure (at least `minDelayMs`, the
   * server's own wait). Returns false, without waiting, when the retry policy allows no more attempts.
   */
  async #backoff(run: Run<unknown>, minDelayMs: number, reason: 'transient' | 'network'): Promise<boolean> {
    const { ctx } = run;
    const retry = ++run.transient;
    const now = ctx.clock.now();
    const delay = Math.max(backoffDelay(retry, ctx.retry, ctx.random), minDelayMs);
    if (!mayRetry(run.attempts, now - run.firstSentAt, delay, ctx.retry)) return false;
    ctx.emit({
      type: 'retried',
      at: now,
      lane: run.lane.id,
      id: run.id,
      attempt: run.attempts,
      delayMs: delay,
      reason,
    });
    await ctx.clock.sleep(delay, run.signal);
    return true;
  }

  /** The final answer of a run: the upstream's value, with the hooks that settle and free it. */
  #execution<T>(run: Run<T>, outcome: 'success' | 'fatal'): Execution<T> {
    const result = run.result!;
    let settled = false;
    return {
      value: result.value,
      status: result.status,
      outcome,
      attempts: run.attempts,
      queuedMs: run.queuedMs,
      lane: run.lane.id,
      wantsUsage: outcome === 'success' && wantsUsage(this.#ctx, run),
      holdsSlot:
        run.lane.config?.maxConcurrency !== undefined || (run.tenantState?.limitsConcurrency ?? false),
      settle: (usage) => {
        if (settled || outcome !== 'success') return;
        settled = true;
        settleUsage(this.#ctx, run, usage);
      },
      streamError: (cls) => this.streamError(run, cls),
      done: () => run.release(),
    };
  }

  /** A failure caused by an upstream answer, carrying its status, body and request id. */
  #upstreamError(
    run: Run<unknown>,
    code: ErrorCode,
    retryAfterMs: number | undefined,
    message: string,
  ): SluiceError {
    const result = run.result!;
    const requestId = run.view?.requestId;
    return sluiceError(code, message, {
      status: result.status,
      body: result.body,
      lane: run.lane.id,
      attempts: run.attempts,
      ...(requestId === undefined ? {} : { requestId }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
}

const LOWER = Object.freeze({ lowerCase: true });

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}

/** An upstream's message as a clause of ours: without its closing period (ours follows). */
function clause(message: string): string {
  return message.trim().replace(/\.+$/, '');
}
