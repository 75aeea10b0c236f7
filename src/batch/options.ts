/**
 * The options, defaults and results of a batch run, in one place (the runner, the summary and the dry
 * run share them).
 */
import type { EngineOptions } from '../engine/options.js';
import type { Transport } from './http.js';
import type { LaneProgress } from './progress.js';

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
  /** `write_error`: a result could not be written (a full disk, an unwritable output). */
  reason: 'quota' | 'unauthorized' | 'upstream_down' | 'interrupt' | 'write_error';
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
  /** Lines this run wrote to the output and to the errors file. */
  outputLines: number;
  errorLines: number;
  /** Lines skipped because an earlier run finished them. */
  skipped: number;
  /** Lines not sent because the run stopped (quota, key, upstream down), written as `not_attempted`. */
  notAttempted: number;
  /** Lines on the wire when an interrupted run gave up on them (nothing written; `--resume` sends them). */
  abandoned: number;
  /** Lines handed to the engine but never sent because the run was interrupted or could not write. */
  unsent: number;
  /** Answers received that could not be written (a write error): `--resume` sends those lines again. */
  unwritten: number;
  /** Failures from earlier runs, kept in the errors file, for lines of this input. */
  earlierFailed: number;
  /**
   * Failures kept in the errors file from earlier runs whose `custom_id` is no longer in the input (the
   * line was removed): left in the file, not counted in the exit status. 0 unless the whole input was read.
   */
  earlierFailedGone: number;
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
  /** 0 all succeeded, 1 some failed, were not attempted or not written, 130 interrupted. */
  exitCode: 0 | 1 | 130;
}
