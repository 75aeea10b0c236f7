/**
 * What happened to each line, recorded: the output and errors files, the counts of the summary and the
 * progress tracker, kept in step. A write that fails is reported once (`onWriteError`, and the run
 * stops); the line it was for is counted as not written, so `--resume` runs it again.
 */
import { usageFromBody } from '../engine/cost.js';
import { errorLine, outputLine, type BatchResponse } from '../formats/batch-lines.js';
import type { BatchErrorCode } from './codes.js';
import { BatchSetupError } from './files.js';
import type { BadLine, BatchRequest } from './input.js';
import { BATCH_DEFAULTS, type BatchOptions, type BatchSummary, type StopInfo } from './options.js';
import { LineWriter } from './output.js';
import type { ProgressTracker } from './progress.js';
import type { Redactor } from './redact.js';
import type { ResumeState } from './resume.js';

export interface RecorderOptions {
  input: string;
  output: string;
  errors: string;
  redactor: Redactor;
  tracker: ProgressTracker;
  /** Bad lines for the user (already redacted by the caller). */
  log: (message: string) => void;
  /** The first failed write; nothing more is written to that file. */
  onWriteError: (err: unknown) => void;
}

export class Recorder {
  readonly counts = {
    succeeded: 0,
    failed: 0,
    bad: 0,
    skipped: 0,
    notAttempted: 0,
    /** On the wire when an interrupted run gave up on them. */
    abandoned: 0,
    /** Handed to the engine, never sent (interrupted, or the run could not write). */
    unsent: 0,
    /** Answered, but the answer could not be written. */
    unwritten: 0,
    /** Skipped lines that failed in an earlier run (kept failures of this input). */
    earlierFailed: 0,
  };
  /** Usage reported by the succeeded answers. */
  readonly usage = { prompt: 0, completion: 0 };
  readonly #o: RecorderOptions;
  readonly #output: LineWriter;
  readonly #errors: LineWriter;
  #badShown = 0;

  /** Opens both files for appending; throws {@link BatchSetupError} when one cannot be opened. */
  constructor(options: RecorderOptions) {
    this.#o = options;
    let output: LineWriter | undefined;
    try {
      output = new LineWriter(options.output, options.redactor);
      this.#errors = new LineWriter(options.errors, options.redactor);
    } catch (err) {
      output?.close();
      throw new BatchSetupError(
        `Cannot write ${(err as NodeJS.ErrnoException).path ?? options.output}: ${(err as Error).message}.`,
      );
    }
    this.#output = output;
  }

  /** Lines written in this run. */
  get outputLines(): number {
    return this.#output.written;
  }

  get errorLines(): number {
    return this.#errors.written;
  }

  succeeded(request: BatchRequest, response: BatchResponse): void {
    if (!this.#write(this.#output, outputLine(request.customId, response))) {
      this.#unwritten();
      return;
    }
    const usage = usageFromBody(response.body);
    this.usage.prompt += usage?.promptTokens ?? 0;
    this.usage.completion += usage?.completionTokens ?? 0;
    this.counts.succeeded++;
    this.#o.tracker.line('succeeded', true);
  }

  failed(request: BatchRequest, code: BatchErrorCode, message: string, response: BatchResponse | null): void {
    if (!this.#write(this.#errors, errorLine(request.customId, request.line, code, message, response))) {
      this.#unwritten();
      return;
    }
    this.counts.failed++;
    this.#o.tracker.line('failed', true);
  }

  /** A line not sent because the run stopped (`sent`: it had been handed to the engine). */
  notAttempted(request: BatchRequest, reason: string, sent = false): void {
    this.counts.notAttempted++;
    this.#o.tracker.line('not_attempted', sent);
    this.#write(
      this.#errors,
      errorLine(
        request.customId,
        request.line,
        'not_attempted',
        `Not sent: the run stopped first (${reason}). --resume sends it.`,
      ),
      true,
    );
  }

  bad(bad: BadLine): void {
    this.counts.bad++;
    this.#o.tracker.line('bad');
    this.#write(this.#errors, errorLine(bad.customId, bad.line, bad.code, bad.message), true);
    if (this.#badShown < BATCH_DEFAULTS.badLinesShown) this.#o.log(`${this.#o.input}: ${bad.message}`);
    else if (this.#badShown === BATCH_DEFAULTS.badLinesShown) {
      this.#o.log(
        `${this.#o.input}: more bad lines follow; they are counted in the summary and listed in ${this.#o.errors}.`,
      );
    }
    this.#badShown++;
  }

  /** A line an earlier run finished (`failed`: it is kept as failed in the errors file). */
  skipped(failed: boolean): void {
    this.counts.skipped++;
    if (failed) this.counts.earlierFailed++;
    this.#o.tracker.line('skipped');
  }

  /** A line handed to the engine and given up without an outcome; nothing is written. */
  gaveUp(onWire: boolean): void {
    if (onWire) this.counts.abandoned++;
    else this.counts.unsent++;
    this.#o.tracker.abandoned();
  }

  /** Flushes and closes both files (a failed flush is reported like any failed write). */
  close(): void {
    for (const writer of [this.#output, this.#errors]) {
      try {
        writer.close();
      } catch (err) {
        this.#o.onWriteError(err);
      }
    }
  }

  #unwritten(): void {
    this.counts.unwritten++;
    this.#o.tracker.abandoned();
  }

  /** Writes one line; on a write error reports it and returns false. */
  #write(writer: LineWriter, value: unknown, buffered = false): boolean {
    try {
      if (buffered) writer.writeBuffered(value);
      else writer.write(value);
      return true;
    } catch (err) {
      this.#o.onWriteError(err);
      return false;
    }
  }
}

/** What the run knew at its end, besides the recorder's counts. */
export interface RunEnd {
  options: BatchOptions & { errors: string; maxInFlight: number };
  total: number | undefined;
  resume: ResumeState | undefined;
  /** The whole input was read (not an interrupted or unwritable run). */
  readAll: boolean;
  stopped: StopInfo | undefined;
  tracker: ProgressTracker;
  wallMs: number;
  windowBound: boolean;
}

/** The run's summary and exit status. */
export function summarize(record: Recorder, end: RunEnd): BatchSummary {
  const snap = end.tracker.snapshot();
  const c = record.counts;
  const o = end.options;
  const interrupted = end.stopped?.reason === 'interrupt';
  const stoppedEarly = end.stopped !== undefined && !interrupted;
  // Earlier failures count only for lines still in the input.
  const problems = c.failed + c.bad + c.notAttempted + c.unwritten + c.earlierFailed;
  return {
    input: o.input,
    output: o.output,
    errors: o.errors,
    total: end.total,
    succeeded: c.succeeded,
    failed: c.failed,
    bad: c.bad,
    skipped: c.skipped,
    outputLines: record.outputLines,
    errorLines: record.errorLines,
    notAttempted: c.notAttempted,
    abandoned: c.abandoned,
    unsent: c.unsent,
    unwritten: c.unwritten,
    earlierFailed: c.earlierFailed,
    earlierFailedGone: end.readAll && end.resume ? end.resume.failed - c.earlierFailed : 0,
    rerun: end.resume?.rerun ?? 0,
    stopped: end.stopped,
    sent: snap.sent,
    rateLimited: snap.rateLimited,
    retries: snap.retries,
    tokensAdmitted: snap.tokensAdmitted,
    promptTokens: record.usage.prompt,
    completionTokens: record.usage.completion,
    wallMs: end.wallMs,
    lanes: end.tracker.lanes().map((l) => ({ ...l, spanMs: l.lastAt - end.tracker.startedAt })),
    windowBound: end.windowBound,
    maxInFlight: o.maxInFlight,
    exitCode: interrupted ? 130 : problems > 0 || stoppedEarly ? 1 : 0,
  };
}
