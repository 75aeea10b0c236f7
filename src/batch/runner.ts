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
 * the lines it did not finish; `--resume` runs them.
 */
import { access, constants, stat } from 'node:fs/promises';
import { estimateCost, usageFromBody, type RequestCost } from '../engine/cost.js';
import { Engine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/options.js';
import type { AttemptResult, EngineRequest } from '../engine/request.js';
import { SluiceError } from '../engine/errors.js';
import { keyFingerprint, upstreamOf } from '../protocol/lane.js';
import { errorLine, outputLine, type BatchResponse } from '../formats/batch-lines.js';
import { parseJson } from '../formats/json.js';
import type { BatchErrorCode } from './codes.js';
import { httpTransport, type Transport } from './http.js';
import { countLines, joinUrl, LineChecker, readLines, type BadLine, type BatchRequest } from './input.js';
import { LineWriter } from './output.js';
import { ProgressTracker, type LaneProgress } from './progress.js';
import { loadResumeState, type ResumeState } from './resume.js';

/** Defaults of {@link BatchOptions}, in one place. */
export const BATCH_DEFAULTS = {
  maxInFlight: 256,
  graceMs: 5000,
  /** Consecutive requests failing with `upstream_error` (no success between) that stop the run. */
  breakerThreshold: 10,
  /** Bad lines printed before the rest are only counted. */
  badLinesShown: 20,
  /** Completion tokens the engine assumes for a request without a max, until it learns (engine default). */
  typicalCompletion: 64,
} as const;

export interface BatchOptions {
  /** The input JSONL file. */
  input: string;
  /** The output JSONL file (succeeded lines), appended to. */
  output: string;
  /** The errors JSONL file. @default `${output}.errors.jsonl` */
  errors?: string;
  /** Base URL of the API, `/v1` included. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; never logged. */
  apiKey?: string;
  /** Requests per minute per model. @default learned from the headers */
  rpm?: number;
  /** Tokens per minute per model. @default learned from the headers */
  tpm?: number;
  /** Requests handed to the engine at once (waiting for admission or in flight). @default 256 */
  maxInFlight?: number;
  /** Skip lines the output and errors files already finished. @default false */
  resume?: boolean;
  /** With `resume`: send the failed lines again too. @default false */
  retryFailed?: boolean;
  /** After `interrupt()`, how long in-flight requests may take to finish. @default 5000 */
  graceMs?: number;
  /** How requests reach the API. @default a keep-alive `node:http(s)` transport, `maxInFlight` connections */
  transport?: Transport;
  /** Extra engine options (tests: retry policy, clock). Limits come from `rpm`/`tpm`. */
  engine?: Omit<EngineOptions, 'limits'>;
  /** Warnings and bad lines, one message per call. @default nothing */
  log?: (message: string) => void;
}

/** Why a run stopped before the end of the file. */
export interface StopInfo {
  reason: 'quota' | 'unauthorized' | 'upstream_down' | 'interrupt';
  message: string;
}

export interface BatchSummary {
  input: string;
  output: string;
  errors: string;
  /** Non-blank input lines (`undefined` when the run was interrupted before they were counted). */
  total: number | undefined;
  succeeded: number;
  /** Lines that failed in this run (sent, or refused by the engine). */
  failed: number;
  /** Bad input lines (this run's count; they are checked on every run). */
  bad: number;
  /** Lines skipped because an earlier run finished them. */
  skipped: number;
  /** Lines not sent because the run stopped (quota, key, upstream down), written as `not_attempted`. */
  notAttempted: number;
  /** Lines that were in flight when an interrupted run gave up on them (nothing written). */
  abandoned: number;
  /** Failures from earlier runs, kept in the errors file. */
  earlierFailed: number;
  /** Errors-file entries of earlier runs dropped to run again. */
  rerun: number;
  stopped: StopInfo | undefined;
  /** Attempts sent (retries included). */
  sent: number;
  rateLimited: number;
  retries: number;
  /** Tokens reserved at admission (estimates, all attempts). */
  tokensAdmitted: number;
  /** Usage reported by the succeeded answers. */
  promptTokens: number;
  completionTokens: number;
  wallMs: number;
  /** Per lane (model): what it admitted, the limits in force at the end, its time from start to last admission. */
  lanes: (LaneProgress & { spanMs: number })[];
  /** The window, not the limits, held the run back for much of the time. */
  windowBound: boolean;
  maxInFlight: number;
  /** 0 all succeeded, 1 some failed or were not attempted, 130 interrupted. */
  exitCode: 0 | 1 | 130;
}

/** A problem found before anything was sent (exit 2). */
export class BatchSetupError extends Error {
  override readonly name = 'BatchSetupError';
}

/** The abort reason of requests the run itself cancelled (stop, interrupt). */
class RunStopped extends Error {
  override readonly name = 'RunStopped';
}

interface Answer {
  status: number;
  requestId: string | null;
  body: unknown;
}

interface Item {
  request: BatchRequest;
  controller: AbortController;
  /** Inside `send` (the HTTP exchange is under way). */
  sending: boolean;
  /** Attempts that reached `send` and went out. */
  sends: number;
}

/** Checks that the files are usable; throws {@link BatchSetupError} with what to do. */
export async function checkFiles(options: {
  input: string;
  output?: string;
  errors?: string;
  resume?: boolean;
}): Promise<void> {
  let info;
  try {
    info = await stat(options.input);
    await access(options.input, constants.R_OK);
  } catch (err) {
    throw new BatchSetupError(
      `Cannot read the input file ${options.input}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`,
    );
  }
  if (info.isDirectory()) {
    throw new BatchSetupError(`The input ${options.input} is a directory; give a JSONL file.`);
  }
  if (options.resume || options.output === undefined) return;
  for (const path of [options.output, options.errors ?? `${options.output}.errors.jsonl`]) {
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch {
      continue;
    }
    if (size > 0) {
      throw new BatchSetupError(
        `${path} already exists and is not empty. To continue that run, add --resume (finished lines are skipped); to start over, remove it (and ${path === options.output ? 'its errors file' : 'the output file'}) or choose another --output.`,
      );
    }
  }
}

export class BatchRun {
  readonly #o: BatchOptions & { errors: string; maxInFlight: number; graceMs: number };
  readonly #engine: Engine;
  readonly #tracker: ProgressTracker;
  readonly #transport: Transport;
  readonly #closeTransport: () => void;
  readonly #window = new Set<Item>();
  readonly #upstream: string;
  readonly #headers: Record<string, string>;
  #wake: (() => void) | undefined;
  #stop: StopInfo | undefined;
  #heard = false;
  #consecutiveDown = 0;
  #badShown = 0;
  #output: LineWriter | undefined;
  #errors: LineWriter | undefined;
  #total: number | undefined;
  #usage = { prompt: 0, completion: 0 };
  #counts = { succeeded: 0, failed: 0, bad: 0, skipped: 0, notAttempted: 0, abandoned: 0 };
  #samples = { ticks: 0, windowBound: 0 };
  #graceTimer: NodeJS.Timeout | undefined;
  #countAbort = new AbortController();

  constructor(options: BatchOptions) {
    const maxInFlight = options.maxInFlight ?? BATCH_DEFAULTS.maxInFlight;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new BatchSetupError(`maxInFlight must be a whole number from 1 up, got ${String(maxInFlight)}.`);
    }
    this.#o = {
      ...options,
      errors: options.errors ?? `${options.output}.errors.jsonl`,
      maxInFlight,
      graceMs: options.graceMs ?? BATCH_DEFAULTS.graceMs,
    };
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new BatchSetupError(
        `The base URL ${JSON.stringify(options.baseUrl)} is not a URL; expected e.g. https://api.openai.com/v1.`,
      );
    }
    this.#upstream = upstreamOf(base);
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
      maxQueue: maxInFlight + 16,
    });
    this.#tracker = new ProgressTracker();
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
    if (this.#stop?.reason === 'interrupt') return;
    this.#stopRun({ reason: 'interrupt', message: 'Interrupted: stopped sending.' });
    this.#graceTimer = setTimeout(() => this.abort(), this.#o.graceMs);
    this.#graceTimer.unref();
  }

  /** Abandons every request now (a second Ctrl-C). */
  abort(): void {
    if (!this.#stop) this.#stopRun({ reason: 'interrupt', message: 'Interrupted: stopped sending.' });
    for (const item of this.#window) item.controller.abort(new RunStopped('abandoned'));
    this.#countAbort.abort();
    this.#notify();
  }

  async run(): Promise<BatchSummary> {
    const o = this.#o;
    const started = Date.now();
    await checkFiles(o);
    let resume: ResumeState | undefined;
    if (o.resume || o.retryFailed) {
      resume = await loadResumeState(o.output, o.errors, { retryFailed: o.retryFailed === true });
      for (const note of resume.notes) this.#log(note);
    }
    try {
      this.#output = new LineWriter(o.output);
      this.#errors = new LineWriter(o.errors);
    } catch (err) {
      this.#output?.close();
      throw new BatchSetupError(
        `Cannot write ${(err as NodeJS.ErrnoException).path ?? o.output}: ${(err as Error).message}.`,
      );
    }

    const checker = new LineChecker(resume?.finished);
    void countLines(o.input, this.#countAbort.signal).then(
      (n) => {
        this.#total = n;
        this.#tracker.setTotal(n);
        checker.reserve(n);
      },
      () => {},
    );
    const poll = setInterval(() => void this.#sample(), 1000);
    poll.unref();

    try {
      for await (const raw of readLines(o.input)) {
        const checked = checker.check(raw);
        if (!checked.ok) {
          this.#badLine(checked.bad);
          continue;
        }
        const request = checked.request;
        if (checked.finished) {
          this.#counts.skipped++;
          this.#tracker.line('skipped');
          continue;
        }
        if (!this.#stop) await this.#room();
        if (this.#stop?.reason === 'interrupt') break;
        if (this.#stop) {
          this.#notAttempted(request);
          continue;
        }
        this.#start(request);
      }
      await this.#drained();
    } finally {
      clearInterval(poll);
      if (this.#graceTimer) clearTimeout(this.#graceTimer);
      this.#countAbort.abort();
      this.#output.close();
      this.#errors.close();
      await this.#sample();
      await this.#engine.close();
      this.#closeTransport();
    }

    const snap = this.#tracker.snapshot();
    const c = this.#counts;
    const interrupted = this.#stop?.reason === 'interrupt';
    const earlierFailed = resume?.failed ?? 0;
    return {
      input: o.input,
      output: o.output,
      errors: o.errors,
      total: this.#total,
      succeeded: c.succeeded,
      failed: c.failed,
      bad: c.bad,
      skipped: c.skipped,
      notAttempted: c.notAttempted,
      abandoned: c.abandoned,
      earlierFailed,
      rerun: resume?.rerun ?? 0,
      stopped: this.#stop,
      sent: snap.sent,
      rateLimited: snap.rateLimited,
      retries: snap.retries,
      tokensAdmitted: snap.tokensAdmitted,
      promptTokens: this.#usage.prompt,
      completionTokens: this.#usage.completion,
      wallMs: Date.now() - started,
      lanes: this.#tracker.lanes().map((l) => ({ ...l, spanMs: l.lastAt - this.#tracker.startedAt })),
      windowBound: this.#samples.ticks >= 5 && this.#samples.windowBound / this.#samples.ticks > 0.25,
      maxInFlight: o.maxInFlight,
      exitCode: interrupted ? 130 : c.failed + c.bad + c.notAttempted + earlierFailed > 0 ? 1 : 0,
    };
  }

  #log(message: string): void {
    this.#o.log?.(message);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until the window has room (one request until the upstream has answered once) or the run stops. */
  async #room(): Promise<void> {
    for (;;) {
      if (this.#stop) return;
      const limit = this.#heard ? this.#o.maxInFlight : 1;
      if (this.#window.size < limit) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  async #drained(): Promise<void> {
    while (this.#window.size > 0) await new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** Samples the limits in force and whether the window (rather than the limits) is the bottleneck. */
  async #sample(): Promise<void> {
    for (const lane of await this.#engine.stats()) {
      let rpm = 0;
      let tpm = 0;
      for (const b of lane.buckets) {
        if (b.windowMs !== 60_000) continue;
        if (b.dimension === 'requests') rpm = b.limit;
        if (b.dimension === 'tokens') tpm = b.limit;
      }
      this.#tracker.setLaneLimits(lane.lane, rpm || undefined, tpm || undefined);
    }
    if (this.#stop || !this.#heard) return;
    this.#samples.ticks++;
    let sending = 0;
    for (const item of this.#window) if (item.sending) sending++;
    if (this.#window.size >= this.#o.maxInFlight && sending === this.#window.size)
      this.#samples.windowBound++;
  }

  #badLine(bad: BadLine): void {
    this.#counts.bad++;
    this.#tracker.line('bad');
    this.#errors!.writeBuffered(errorLine(bad.customId, bad.line, bad.code, bad.message));
    if (this.#badShown < BATCH_DEFAULTS.badLinesShown) this.#log(`${this.#o.input}: ${bad.message}`);
    else if (this.#badShown === BATCH_DEFAULTS.badLinesShown) {
      this.#log(
        `${this.#o.input}: more bad lines follow; they are counted in the summary and listed in ${this.#o.errors}.`,
      );
    }
    this.#badShown++;
  }

  #notAttempted(request: BatchRequest, sent = false): void {
    this.#counts.notAttempted++;
    this.#tracker.line('not_attempted', sent);
    this.#errors!.writeBuffered(
      errorLine(
        request.customId,
        request.line,
        'not_attempted',
        `Not sent: the run stopped first (${this.#stop?.reason ?? 'stopped'}). --resume sends it.`,
      ),
    );
  }

  #failed(
    request: BatchRequest,
    code: BatchErrorCode,
    message: string,
    response: BatchResponse | null,
  ): void {
    this.#counts.failed++;
    this.#tracker.line('failed', true);
    this.#errors!.write(errorLine(request.customId, request.line, code, message, response));
  }

  #stopRun(stop: StopInfo): void {
    if (this.#stop) return;
    this.#stop = stop;
    this.#tracker.stopping();
    // Requests not on the wire are not sent any more; those on the wire finish (their answers count).
    for (const item of this.#window) if (!item.sending) item.controller.abort(new RunStopped(stop.reason));
    // An interrupted run reads no further; a stopped one reads on to account for every line.
    if (stop.reason === 'interrupt') this.#countAbort.abort();
    this.#notify();
  }

  #start(request: BatchRequest): void {
    const item: Item = { request, controller: new AbortController(), sending: false, sends: 0 };
    this.#window.add(item);
    this.#tracker.started();
    void this.#execute(item).finally(() => {
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
    const cost: RequestCost = estimateCost(request.url, request.body, { typicalCompletion: 0 });
    const engineRequest: EngineRequest = {
      lane: {
        upstream: this.#upstream,
        keyFingerprint: keyFingerprint(this.#o.apiKey),
        model: cost.model ?? 'unknown',
      },
      // Embeddings generate nothing: no typical completion is added to their cost.
      cost: request.kind === 'embeddings' ? { ...cost, n: 0 } : cost,
      priority: 'batch',
      signal: item.controller.signal,
    };
    try {
      const execution = await this.#engine.execute(engineRequest, () => this.#send(item, url, bodyText));
      execution.done();
      const answer = execution.value;
      const response: BatchResponse = {
        status_code: answer.status,
        request_id: answer.requestId,
        body: answer.body,
      };
      if (execution.outcome === 'success') {
        this.#consecutiveDown = 0;
        const usage = usageFromBody(answer.body);
        this.#usage.prompt += usage?.promptTokens ?? 0;
        this.#usage.completion += usage?.completionTokens ?? 0;
        this.#counts.succeeded++;
        this.#tracker.line('succeeded', true);
        this.#output!.write(outputLine(request.customId, response));
        return;
      }
      const upstream = describeUpstream(answer);
      if (answer.status === 401) {
        this.#failed(
          request,
          'unauthorized',
          `The API refused the key (401${upstream}). Check the key, then --resume.`,
          response,
        );
        this.#stopRun({
          reason: 'unauthorized',
          message: `The API refused the key (401${upstream}). Stopped sending. Check OPENAI_API_KEY (or the variable named by --api-key-env) and the base URL, then resume.`,
        });
        return;
      }
      this.#failed(
        request,
        'upstream_rejected',
        `The API answered ${answer.status}${upstream}. Fix the request; sending it again as it is fails the same way.`,
        response,
      );
    } catch (err) {
      if (err instanceof RunStopped || (item.controller.signal.aborted && !(err instanceof SluiceError))) {
        if (this.#stop && this.#stop.reason !== 'interrupt') this.#notAttempted(request, true);
        else {
          this.#counts.abandoned++;
          this.#tracker.abandoned();
        }
        return;
      }
      if (err instanceof SluiceError) {
        const response: BatchResponse | null =
          err.status === undefined
            ? null
            : { status_code: err.status, request_id: err.requestId ?? null, body: err.body ?? null };
        if (err.code === 'quota_exhausted') {
          if (item.sends === 0 || this.#stop) {
            this.#notAttempted(request, true);
          } else {
            this.#failed(request, 'quota_exhausted', err.message, response);
          }
          this.#stopRun({
            reason: 'quota',
            message: `The account's quota is exhausted: ${quotaDetail(err)}. Stopped sending.`,
          });
          return;
        }
        if (err.code === 'upstream_error') {
          this.#consecutiveDown++;
          this.#failed(request, 'upstream_error', err.message, response);
          if (this.#consecutiveDown >= BATCH_DEFAULTS.breakerThreshold) {
            this.#stopRun({
              reason: 'upstream_down',
              message: `${this.#consecutiveDown} requests in a row failed after every retry (last: ${err.message}). Stopped sending. Check the base URL, the network and the provider's status page; then resume with --retry-failed to send the failed lines again.`,
            });
          }
          return;
        }
        this.#failed(request, err.code, err.message, response);
        return;
      }
      this.#failed(
        request,
        'upstream_error',
        `Unexpected failure: ${(err as Error).message ?? String(err)}`,
        null,
      );
    }
  }

  async #send(item: Item, url: string, bodyText: string): Promise<AttemptResult<Answer>> {
    if (this.#stop) {
      const reason = new RunStopped(this.#stop.reason);
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
      const parsed = parseJson(res.text);
      const requestId = res.headers['x-request-id'];
      const answer: Answer = {
        status: res.status,
        requestId: typeof requestId === 'string' ? requestId : null,
        body: parsed === undefined ? res.text : parsed,
      };
      const ok = res.status >= 200 && res.status < 300;
      const usage = ok ? usageFromBody(parsed) : undefined;
      return {
        status: res.status,
        headers: res.headers,
        ...(ok ? {} : { body: answer.body }),
        value: answer,
        ...(usage ? { usage } : {}),
      };
    } finally {
      item.sending = false;
    }
  }
}

/** `: model_not_found: The model … does not exist` from an OpenAI-shaped error body, or ''. */
function describeUpstream(answer: Answer): string {
  const error = (answer.body as { error?: { code?: unknown; type?: unknown; message?: unknown } } | null)
    ?.error;
  if (typeof error !== 'object' || error === null) return '';
  const code =
    typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : undefined;
  const message = typeof error.message === 'string' ? error.message : undefined;
  return [code, message]
    .filter((x) => x !== undefined)
    .map((x) => `: ${x}`)
    .join('');
}

function quotaDetail(err: SluiceError): string {
  const error = (err.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : 'insufficient_quota';
  const message = typeof error?.message === 'string' ? error.message : undefined;
  return message ? `${code} (${message})` : code;
}

/** Runs a batch file to its end (or its stop). */
export async function runBatch(options: BatchOptions): Promise<BatchSummary> {
  return new BatchRun(options).run();
}
