/**
 * The worker core, the same for every broker: it turns one message (an OpenAI Batch input line) into
 * what the transport must do with it — publish a result line and acknowledge, dead-letter it, or return
 * it to the queue — running the request through the engine on the way, and drains on SIGTERM. The flow
 * of messages (how many the transport may hold, the quota stop and its probe) is `flow.ts`'s. A
 * transport adapter (`amqp/`, `bullmq/`) only moves messages.
 */
import { Engine } from '../engine/engine.js';
import { SluiceError } from '../engine/errors.js';
import type { Priority } from '../engine/events.js';
import type { AttemptResult, EngineRequest } from '../engine/request.js';
import {
  errorLine,
  outputLine,
  type BatchErrorLine,
  type BatchOutputLine,
  type BatchResponse,
} from '../formats/batch-lines.js';
import { resolveOptions } from '../formats/options.js';
import { describeBody } from '../formats/openai-errors.js';
import { adaptRequest } from '../protocol/adapt.js';
import { checkBatchLine, joinUrl } from '../protocol/batch-line.js';
import { httpTransport, toAttempt, type Answer, type Transport } from '../protocol/http.js';
import { WorkerFlow, type Flow, type FlowState } from './flow.js';
import { memoryFinished, type Finished } from './remember.js';
import { WorkerTally } from './tally.js';
import {
  WORKER_DEFAULTS,
  WORKER_OPTIONS,
  type ResolvedWorkerOptions,
  type WorkerOptions,
} from './options.js';

/** One message as a transport hands it over. */
export interface Delivery {
  /** The body, as text (one Batch input line). */
  text: string;
  /**
   * The message's headers: `x-sluice-priority`, `x-sluice-tenant`, `x-sluice-max-wait-ms` (from the
   * moment it is taken) and `x-sluice-deadline` (epoch ms or an ISO date, after which it is not sent).
   */
  headers: { get(name: string): string | null };
  /** The broker delivered it before (a worker died holding it, or it was returned). */
  redelivered: boolean;
  /** The class its broker priority maps to, when it carried one. */
  priority?: Priority;
}

export type Verdict =
  /** Publish `line` (an output line, or an error line when `ok` is false), remember the id, then ack. */
  | { kind: 'result'; customId: string; ok: boolean; line: BatchOutputLine | BatchErrorLine }
  /** Not a Batch line (or a bad header): to the dead-letter queue with the reason, then ack. */
  | { kind: 'dead'; customId: string | null; code: string; reason: string }
  /** Finished before (within the remember window): ack, send nothing. */
  | { kind: 'finished_before'; customId: string }
  /** Back to the queue, untouched: a quota stop, or the worker is stopping. */
  | { kind: 'requeue'; reason: 'quota' | 'stopping' };

/** The abort reason of requests the worker itself cancelled (stopping). */
class Stopping extends Error {
  override readonly name = 'Stopping';
}

interface Held {
  controller: AbortController;
  sending: boolean;
}

const NO_HEADERS = { get: () => null };

export class WorkerCore {
  readonly options: ResolvedWorkerOptions;
  readonly engine: Engine;
  readonly tally: WorkerTally;
  readonly #transport: Transport;
  readonly #closeTransport: () => void;
  readonly #finished: Finished;
  readonly #headers: Record<string, string>;
  readonly #held = new Set<Held>();
  readonly #log: (line: string) => void;
  readonly #flow: WorkerFlow;
  #graceTimer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;

  constructor(input: WorkerOptions, extra: { finished?: Finished; log?: (line: string) => void } = {}) {
    this.options = resolveOptions(WORKER_OPTIONS, input) as ResolvedWorkerOptions;
    const o = this.options;
    if (o.transport) {
      this.#transport = o.transport;
      this.#closeTransport = () => {};
    } else {
      const t = httpTransport({ maxSockets: WORKER_DEFAULTS.maxPrefetch });
      this.#transport = t;
      this.#closeTransport = t.close;
    }
    this.#finished = extra.finished ?? memoryFinished();
    this.#log = extra.log ?? (() => {});
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (o.apiKey) this.#headers['authorization'] = `Bearer ${o.apiKey}`;
    const limits = {
      ...(o.rpm === undefined ? {} : { rpm: o.rpm }),
      ...(o.tpm === undefined ? {} : { tpm: o.tpm }),
    };
    this.engine = new Engine({
      quotaProbeIntervalMs: o.quotaProbeMs,
      ...o.engine,
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(o.store ? { store: o.store } : {}),
      maxQueue: WORKER_DEFAULTS.maxPrefetch + 16,
    });
    this.tally = new WorkerTally(() => this.engine.clock.now());
    this.engine.on((event) => {
      this.tally.event(event);
      // The first answer may tell the limits: size the prefetch from them at once.
      if (event.type === 'answered' && this.tally.answered === 1) void this.#flow.sample();
    });
    this.#flow = new WorkerFlow(o, this.engine, this.tally, this.#log);
  }

  /** The state of the flow (running, paused by a quota stop, probing, stopping). */
  get state(): FlowState {
    return this.#flow.state;
  }

  /** Messages the transport may hold now. */
  get prefetch(): number {
    return this.#flow.prefetch;
  }

  /** Messages held (handed to `process` and not yet decided). */
  get holding(): number {
    return this.#held.size;
  }

  /** Connects the transport's flow control; the flow re-computes the prefetch every second. */
  attach(flow: Flow): void {
    this.#flow.attach(flow);
  }

  /** Remembers a custom_id whose result is published (call before acknowledging the message). */
  async published(customId: string): Promise<void> {
    await this.#finished.add(this.options.queue, customId, this.options.rememberMs);
  }

  /** Decides one message. Never throws: every failure becomes a verdict. */
  async process(delivery: Delivery): Promise<Verdict> {
    this.tally.received++;
    const checked = checkBatchLine(delivery.text);
    if (!checked.ok) {
      this.tally.dead++;
      return { kind: 'dead', customId: checked.customId, code: checked.code, reason: checked.message };
    }
    const { request } = checked;
    if (this.#flow.state.kind === 'stopping') return { kind: 'requeue', reason: 'stopping' };
    if (delivery.redelivered) {
      let known = false;
      try {
        known = await this.#finished.has(this.options.queue, request.customId);
      } catch (err) {
        this.#log(`Could not read the finished ids (${(err as Error).message}); the message is sent.`);
      }
      if (known) {
        this.tally.finishedBefore++;
        return { kind: 'finished_before', customId: request.customId };
      }
    }
    const held: Held = { controller: new AbortController(), sending: false };
    this.#held.add(held);
    try {
      return await this.#run(request.customId, request.url, request.body, delivery, held);
    } finally {
      this.#held.delete(held);
      if (this.#held.size === 0) this.#drained?.();
    }
  }

  async #run(
    customId: string,
    path: string,
    body: Record<string, unknown>,
    delivery: Delivery,
    held: Held,
  ): Promise<Verdict> {
    const url = joinUrl(this.options.baseUrl, path);
    let engineRequest: EngineRequest;
    try {
      const adapted = adaptRequest(
        { method: 'POST', url, headers: delivery.headers ?? NO_HEADERS, body },
        {
          priority: delivery.priority ?? this.options.priority,
          ...(this.options.apiKey ? { apiKey: this.options.apiKey } : {}),
        },
      );
      const deadline = deadlineOf(delivery.headers.get('x-sluice-deadline'));
      if (deadline === null) {
        this.tally.dead++;
        return {
          kind: 'dead',
          customId,
          code: 'invalid_header',
          reason: `x-sluice-deadline must be epoch milliseconds or an ISO date, got ${JSON.stringify(delivery.headers.get('x-sluice-deadline'))}.`,
        };
      }
      engineRequest = { ...adapted.request, signal: held.controller.signal };
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) {
          return this.#result(
            customId,
            errorLine(
              customId,
              null,
              'deadline_exceeded',
              "The message's x-sluice-deadline passed before it could be sent; it was not sent.",
            ),
          );
        }
        engineRequest.maxWaitMs = Math.min(engineRequest.maxWaitMs ?? Infinity, left);
      }
    } catch (err) {
      this.tally.dead++;
      return {
        kind: 'dead',
        customId,
        code: err instanceof SluiceError ? err.code : 'invalid_line',
        reason: (err as Error).message,
      };
    }
    const bodyText = JSON.stringify(body);
    try {
      const execution = await this.engine.execute(engineRequest, () => this.#send(held, url, bodyText));
      execution.done();
      const answer = execution.value;
      const response: BatchResponse = {
        status_code: answer.status,
        request_id: answer.requestId,
        body: answer.body,
      };
      this.#flow.answered();
      if (execution.outcome === 'success' && answer.text === undefined) {
        return this.#result(customId, outputLine(customId, response));
      }
      if (execution.outcome === 'success') {
        return this.#result(
          customId,
          errorLine(
            customId,
            null,
            'invalid_response',
            `The API answered ${answer.status}, but the body is not JSON: not an API answer. Check --base-url.`,
            response,
          ),
        );
      }
      return this.#result(
        customId,
        errorLine(
          customId,
          null,
          'upstream_rejected',
          `The API answered ${answer.status}${describeBody(answer.body)}. Sending it again as it is fails the same way.`,
          response,
        ),
      );
    } catch (err) {
      if (err instanceof Stopping || (held.controller.signal.aborted && !(err instanceof SluiceError))) {
        return { kind: 'requeue', reason: 'stopping' };
      }
      if (err instanceof SluiceError && err.code === 'quota_exhausted') {
        this.#flow.quotaStop(err);
        return { kind: 'requeue', reason: 'quota' };
      }
      if (err instanceof SluiceError) {
        const response: BatchResponse | null =
          err.status === undefined
            ? null
            : { status_code: err.status, request_id: err.requestId ?? null, body: err.body ?? null };
        return this.#result(customId, errorLine(customId, null, err.code, err.message, response));
      }
      return this.#result(
        customId,
        errorLine(
          customId,
          null,
          'upstream_error',
          `Unexpected failure: ${(err as Error)?.message ?? String(err)}`,
        ),
      );
    }
  }

  #result(customId: string, line: BatchOutputLine | BatchErrorLine): Verdict {
    const ok = line.error === null;
    if (ok) this.tally.succeeded++;
    else this.tally.failed++;
    return { kind: 'result', customId, ok, line };
  }

  async #send(held: Held, url: string, body: string): Promise<AttemptResult<Answer>> {
    if (this.#flow.state.kind === 'stopping') throw new Stopping('stopping');
    held.sending = true;
    try {
      return toAttempt(
        await this.#transport(url, { headers: this.#headers, body, signal: held.controller.signal }),
      );
    } finally {
      held.sending = false;
    }
  }

  /**
   * Resolves once the last pause or resume reached the transport. A transport returns a message to the
   * queue only after this, so a paused consumer is not handed it straight back.
   */
  flowSettled(): Promise<void> {
    return this.#flow.settled();
  }

  /** The rate the lanes allow, per second, once known. */
  limitPerSecond(): number | undefined {
    return this.#flow.limitPerSecond();
  }

  /**
   * Stops taking messages: those waiting for admission go back to the queue at once; those on the wire
   * get `graceMs` to finish, then are abandoned and go back too. Resolves when none is held.
   */
  async drain(): Promise<void> {
    if (this.#flow.state.kind !== 'stopping') {
      await this.#flow.stop();
      for (const held of this.#held) if (!held.sending) held.controller.abort(new Stopping('stopping'));
      this.#graceTimer = setTimeout(() => {
        for (const held of this.#held) held.controller.abort(new Stopping('stopping'));
      }, this.options.graceMs);
      this.#graceTimer.unref();
    }
    if (this.#held.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    clearTimeout(this.#graceTimer);
  }

  async close(): Promise<void> {
    this.#flow.close();
    clearTimeout(this.#graceTimer);
    await this.engine.close();
    await this.#finished.close();
    this.#closeTransport();
  }
}

/** Epoch ms of an `x-sluice-deadline` header; `undefined` without one, `null` when unreadable. */
function deadlineOf(value: string | null): number | undefined | null {
  if (value === null || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}
