/**
 * The file shell: runs a Batch input file through the engine and writes every line's outcome.
 *
 * Reading is streamed and bounded: lines are read only while the window of requests handed to the
 * engine has room (`maxInFlight`), so memory does not grow with the file. The engine orders the window
 * and paces it under the lanes' limits; the window only has to be deep enough that the engine always
 * has the next request ready when the limits allow one.
 *
 * Every `custom_id` ends in exactly one of the two files: the output (succeeded) or the errors file
 * (failed, bad line, or not attempted because the run stopped). An interrupted run writes nothing for
 * the lines it did not finish; `--resume` runs them. A write that fails stops the run at once: what is
 * written stays whole, and what could not be written runs again on `--resume`.
 */
import { Engine } from '../engine/engine.js';
import type { AttemptResult, EngineRequest } from '../engine/request.js';
import { SluiceError } from '../engine/errors.js';
import { adaptRequest } from '../protocol/adapt.js';
import { checkFresh, checkPaths } from './files.js';
import { httpTransport, toAttempt, type Answer, type Transport } from '../protocol/http.js';
import { countLines, joinUrl, LineChecker, readLines, type BatchRequest } from './input.js';
import { FileLock } from './lock.js';
import {
  BATCH_DEFAULTS,
  type BatchOptions,
  type BatchSummary,
  type ResolvedBatchOptions,
} from './options.js';
import { ProgressTracker } from './progress.js';
import { Recorder, summarize } from './record.js';
import { keyRedactor, type Redactor } from './redact.js';
import { checkOptions } from './preflight.js';
import { loadResumeState, type ResumeState } from './resume.js';
import { RunStop, RunStopped, type Item } from './stop.js';
import { answerVerdict, errorVerdict, type Verdict } from './verdict.js';

export {
  BATCH_DEFAULTS,
  BATCH_OPTIONS,
  type BatchOptions,
  type BatchSummary,
  type StopInfo,
} from './options.js';
export { BatchSetupError } from './files.js';
export { checkFiles } from './preflight.js';

export class BatchRun {
  readonly #o: ResolvedBatchOptions;
  readonly #errorsGiven: boolean;
  readonly #engine: Engine;
  readonly #tracker: ProgressTracker;
  readonly #transport: Transport;
  readonly #closeTransport: () => void;
  readonly #redact: Redactor;
  readonly #window = new Set<Item>();
  readonly #headers: Record<string, string>;
  #wake: (() => void) | undefined;
  readonly #stopper: RunStop;
  #heard = false;
  #consecutiveDown = 0;
  /** Set when the run starts (the files are open). */
  #record!: Recorder;
  #total: number | undefined;
  #samples = { ticks: 0, windowBound: 0 };

  constructor(input: BatchOptions) {
    const options = checkOptions(input);
    const maxInFlight = options.maxInFlight;
    this.#errorsGiven = input.errors !== undefined;
    this.#o = options;
    this.#redact = keyRedactor(options.apiKey);
    if (options.transport) {
      this.#transport = options.transport;
      this.#closeTransport = () => {};
    } else {
      const transport = httpTransport({ maxSockets: maxInFlight });
      this.#transport = transport;
      this.#closeTransport = transport.close;
    }
    this.#headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (options.apiKey) this.#headers['authorization'] = `Bearer ${options.apiKey}`;
    const limits = {
      ...(options.rpm === undefined ? {} : { rpm: options.rpm }),
      ...(options.tpm === undefined ? {} : { tpm: options.tpm }),
    };
    this.#engine = new Engine({
      ...options.engine,
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(options.store ? { store: options.store } : {}),
      maxQueue: maxInFlight + 16,
    });
    const clock = this.#engine.clock;
    this.#tracker = new ProgressTracker(() => clock.now());
    this.#stopper = new RunStop({
      graceMs: options.graceMs,
      redact: this.#redact,
      tracker: this.#tracker,
      window: this.#window,
      notify: () => this.#notify(),
    });
    this.#engine.on((event) => {
      this.#tracker.event(event);
      if (event.type === 'answered' && !this.#heard) {
        this.#heard = true;
        this.#notify();
      }
    });
  }

  get tracker(): ProgressTracker {
    return this.#tracker;
  }

  get engine(): Engine {
    return this.#engine;
  }

  /**
   * Stops sending: requests waiting for admission are dropped, requests in flight get `graceMs` to
   * finish, then they are abandoned too. Nothing is written for unfinished lines; `--resume` runs them.
   */
  interrupt(): void {
    this.#stopper.interrupt();
  }

  /** Abandons every request now (a second Ctrl-C). */
  abort(): void {
    this.#stopper.abort();
  }

  async run(): Promise<BatchSummary> {
    const o = this.#o;
    const started = Date.now();
    const files = await checkPaths({
      input: o.input,
      output: o.output,
      errors: this.#errorsGiven ? o.errors : undefined,
    });
    const locks: FileLock[] = [];
    try {
      for (const target of [o.output, o.errors]) {
        const lock = FileLock.acquire(target, (m) => this.#log(m));
        if (lock) locks.push(lock);
      }
      if (!o.resume && !o.retryFailed) checkFresh(o.output, o.errors);
      return await this.#run(files.inputIsStream, started);
    } finally {
      for (const lock of locks) lock.release();
    }
  }

  async #run(streaming: boolean, started: number): Promise<BatchSummary> {
    const o = this.#o;
    let resume: ResumeState | undefined;
    if (o.resume || o.retryFailed) {
      resume = await loadResumeState(o.output, o.errors, {
        retryFailed: o.retryFailed === true,
        redactor: this.#redact,
      });
      for (const note of resume.notes) this.#log(note);
    }
    this.#record = new Recorder({
      input: o.input,
      output: o.output,
      errors: o.errors,
      redactor: this.#redact,
      tracker: this.#tracker,
      log: (m) => this.#log(m),
      onWriteError: (err) => this.#stopper.writeFailed(err),
    });
    const record = this.#record;

    const checker = new LineChecker(resume?.finished);
    if (streaming) {
      // A pipe can be read only once: no counting pass; the total is known at its end.
      this.#tracker.setStreaming();
    } else {
      void countLines(o.input, this.#stopper.counting.signal).then(
        (n) => {
          this.#total = n;
          this.#tracker.setTotal(n);
          checker.reserve(n);
        },
        () => {},
      );
    }
    const poll = setInterval(() => void this.#sample(), 1000);
    poll.unref();

    let read = 0;
    let readAll = false;
    try {
      for await (const raw of readLines(o.input)) {
        read++;
        this.#tracker.read();
        const checked = checker.check(raw);
        if (!checked.ok) {
          record.bad(checked.bad);
        } else if (checked.finished) {
          record.skipped(resume?.failedIds.has(checked.request.customId) === true);
        } else {
          if (!this.#stopper.info) await this.#room();
          if (this.#stopper.readingStopped) break;
          if (this.#stopper.info) record.notAttempted(checked.request, this.#stopper.info.reason);
          else this.#start(checked.request);
        }
        if (this.#stopper.readingStopped) break;
      }
      readAll = !this.#stopper.readingStopped;
      if (readAll && streaming) {
        this.#total = read;
        this.#tracker.setTotal(read);
      }
      await this.#drained();
    } finally {
      clearInterval(poll);
      this.#stopper.counting.abort();
      record.close();
      this.#stopper.clearGrace();
      await this.#sample();
      await this.#engine.close();
      this.#closeTransport();
    }

    return summarize(record, {
      options: o,
      total: this.#total,
      resume,
      readAll,
      stopped: this.#stopper.info,
      tracker: this.#tracker,
      wallMs: Date.now() - started,
      windowBound: this.#samples.ticks >= 5 && this.#samples.windowBound / this.#samples.ticks > 0.25,
    });
  }

  #log(message: string): void {
    this.#o.log?.(this.#redact.text(message));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until the window has room (one request until the upstream has answered once) or the run stops. */
  async #room(): Promise<void> {
    for (;;) {
      if (this.#stopper.info) return;
      const limit = this.#heard ? this.#o.maxInFlight : 1;
      if (this.#window.size < limit) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async #drained(): Promise<void> {
    while (this.#window.size > 0) await new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** Samples the limiter's state of each lane and whether the window (rather than the limits) is the bottleneck. */
  async #sample(): Promise<void> {
    const waiting = new Map<string, number>();
    let sending = 0;
    for (const item of this.#window) {
      if (item.sending) sending++;
      else if (item.lane !== undefined) waiting.set(item.lane, (waiting.get(item.lane) ?? 0) + 1);
    }
    const at = this.#engine.clock.now();
    for (const lane of await this.#engine.stats()) {
      this.#tracker.setLaneSample(lane.lane, {
        at,
        buckets: lane.buckets,
        cooldownUntil: lane.cooldownUntil,
        waiting: waiting.get(lane.lane) ?? 0,
      });
    }
    if (this.#stopper.info || !this.#heard) return;
    this.#samples.ticks++;
    if (this.#window.size >= this.#o.maxInFlight && sending === this.#window.size)
      this.#samples.windowBound++;
  }

  #start(request: BatchRequest): void {
    const item: Item = { request, controller: new AbortController(), sending: false, sends: 0 };
    this.#window.add(item);
    this.#tracker.started();
    void this.#execute(item)
      .catch((err: unknown) => this.#stopper.writeFailed(err))
      .finally(() => {
        this.#window.delete(item);
        // The first finished request ends the one-at-a-time start even without an answer (no upstream).
        this.#heard = true;
        this.#notify();
      });
  }

  async #execute(item: Item): Promise<void> {
    const { request } = item;
    const url = joinUrl(this.#o.baseUrl, request.url);
    const bodyText = JSON.stringify(request.body);
    const adapted = adaptRequest(
      { method: 'POST', url, headers: NO_HEADERS, body: request.body },
      { priority: this.#o.priority, ...(this.#o.apiKey ? { apiKey: this.#o.apiKey } : {}) },
    );
    const engineRequest: EngineRequest = { ...adapted.request, signal: item.controller.signal };
    item.lane = this.#engine.laneId(engineRequest.lane);
    try {
      const execution = await this.#engine.execute(engineRequest, () => this.#send(item, url, bodyText));
      execution.done();
      this.#apply(request, answerVerdict(execution.value, execution.outcome));
    } catch (err) {
      this.#caught(item, err);
    }
  }

  #caught(item: Item, err: unknown): void {
    const { request } = item;
    if (err instanceof RunStopped || (item.controller.signal.aborted && !(err instanceof SluiceError))) {
      // Nothing is written for an interrupted line: --resume runs it.
      if (this.#stopper.info && !this.#stopper.readingStopped)
        this.#record.notAttempted(request, this.#stopper.info.reason, true);
      else this.#record.gaveUp(item.onWire === true);
      return;
    }
    if (err instanceof SluiceError) {
      this.#apply(request, errorVerdict(err, item.sends > 0 && this.#stopper.info === undefined));
      return;
    }
    this.#record.failed(
      request,
      'upstream_error',
      `Unexpected failure: ${(err as Error).message ?? String(err)}`,
      null,
    );
  }

  /** Records a request's verdict and acts on it (a stop; too many upstream failures in a row). */
  #apply(request: BatchRequest, verdict: Verdict): void {
    if (verdict.kind === 'succeeded') {
      this.#consecutiveDown = 0;
      this.#record.succeeded(request, verdict.response);
      return;
    }
    if (verdict.kind === 'not_attempted') {
      this.#record.notAttempted(request, this.#stopper.info?.reason ?? verdict.stop.reason, true);
      this.#stopper.stop(verdict.stop);
      return;
    }
    this.#record.failed(request, verdict.code, verdict.message, verdict.response);
    if (verdict.stop) this.#stopper.stop(verdict.stop);
    if (verdict.upstreamDown === undefined) return;
    // Many requests in a row failing for reasons of the upstream: it is down, or the base URL is wrong.
    if (++this.#consecutiveDown < BATCH_DEFAULTS.breakerThreshold) return;
    this.#stopper.stop({
      reason: 'upstream_down',
      message: `${this.#consecutiveDown} requests in a row failed after every retry (${verdict.upstreamDown}). Stopped sending. Check the base URL, the network and the provider's status page; then resume with --retry-failed to send the failed lines again.`,
    });
  }

  async #send(item: Item, url: string, bodyText: string): Promise<AttemptResult<Answer>> {
    if (this.#stopper.info) {
      const reason = new RunStopped(this.#stopper.info.reason);
      item.controller.abort(reason);
      throw reason;
    }
    item.sending = true;
    item.sends++;
    try {
      const res = await this.#transport(url, {
        headers: this.#headers,
        body: bodyText,
        signal: item.controller.signal,
      });
      return toAttempt(res);
    } finally {
      item.sending = false;
    }
  }
}

/** Batch requests carry no caller headers: the run's own key and content type are added when sending. */
const NO_HEADERS = { get: () => null };

/** Runs a batch file to its end (or its stop). */
export async function runBatch(options: BatchOptions): Promise<BatchSummary> {
  return new BatchRun(options).run();
}
