/**
 * The options, defaults and results of a batch run, in one place (the runner, the summary and the dry
 * run share them).
 */
import { PRIORITIES } from '../engine/events.js';
import type { EngineOptions } from '../engine/options.js';
import type { Store } from '../engine/store.js';
import { type OptionsInput, type OptionTable, type ResolvedOptions } from '../formats/options.js';
import { boolean, custom, duration, oneOf, text, whole } from '../formats/option-kinds.js';
import type { Transport } from '../protocol/http.js';
import type { LaneProgress } from './progress.js';
import { CALLER_OPTIONS } from '../protocol/caller-options.js';

/** Tuning of the runner that is not an option. */
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

const isFunction = <F>(v: unknown): v is F => typeof v === 'function';
const isObject = <T>(v: unknown): v is T => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every option of a batch run, declared once: `runBatch()` resolves this table, `sluice batch` turns
 * it into flags (with a few of its own, in `src/cli/batch.ts`), and docs/batch.md's flag table is
 * checked against both. The JSDoc on each entry is the JSDoc of the {@link BatchOptions} field.
 */
export const BATCH_OPTIONS = {
  /** The input JSONL file (a pipe such as `/dev/stdin` is read in one pass). */
  input: text({ flag: false, help: 'the input JSONL file' }),
  /** The output JSONL file (succeeded lines), appended to. */
  output: text({ placeholder: 'file', help: 'where succeeded lines go (required, except with --dry-run)' }),
  /** The errors JSONL file. @default `${output}.errors.jsonl` */
  errors: text({
    placeholder: 'file',
    defaultText: '<output>.errors.jsonl',
    help: 'where failed, bad and not-attempted lines go',
  }),
  /** Base URL of the API, `/v1` included. */
  baseUrl: text({
    flag: false,
    expected: 'an http(s) base URL such as https://api.openai.com/v1',
    help: 'the API base URL',
  }),
  ...CALLER_OPTIONS,
  /** Requests handed to the engine at once (waiting for admission or on the wire). @default 256 */
  maxInFlight: whole({
    min: 1,
    default: BATCH_DEFAULTS.maxInFlight,
    help: 'lines handed to the engine at once (waiting for admission or on the wire)',
  }),
  /**
   * The class the run's requests wait in. Other processes sharing the lane through Redis (a gateway's
   * interactive traffic) go first. @default 'batch'
   */
  priority: oneOf(PRIORITIES, {
    default: 'batch',
    placeholder: 'class',
    help: 'the class its requests wait in, against other work sharing the limits',
  }),
  /** Skip lines the output and errors files already finished. @default false */
  resume: boolean({ default: false, help: 'skip the lines the output and errors files already finished' }),
  /** With `resume`: send the failed lines again too. @default false */
  retryFailed: boolean({ default: false, help: 'with `--resume` (implied): send the lines that failed too' }),
  /** After `interrupt()`, how long in-flight requests may take to finish. @default 5000 */
  graceMs: duration({
    default: BATCH_DEFAULTS.graceMs,
    flag: 'grace',
    help: 'on Ctrl-C, how long requests in flight may take to finish',
  }),
  /** Where limiter state lives (a Redis store shares limits with other processes). @default memory */
  store: custom((v): v is Store => isObject<Store>(v) && typeof (v as Store).reserve === 'function', {
    expected: 'a Store (e.g. createRedisStore())',
    defaultText: 'memory',
    help: 'where limiter state lives',
  }),
  /** How requests reach the API. @default a keep-alive `node:http(s)` transport, `maxInFlight` connections */
  transport: custom((v): v is Transport => isFunction<Transport>(v), {
    expected: 'a transport function',
    help: 'how requests reach the API',
  }),
  /** Extra engine options (tests: retry policy, clock). Limits come from `rpm`/`tpm`. */
  engine: custom((v): v is Omit<EngineOptions, 'limits'> => isObject(v), {
    expected: 'engine options',
    help: 'extra engine options',
  }),
  /** Warnings and bad lines, one message per call. @default nothing */
  log: custom((v): v is (message: string) => void => typeof v === 'function', {
    expected: 'a function',
    help: 'warnings and bad lines',
  }),
} satisfies OptionTable;

export type BatchOptions = OptionsInput<typeof BATCH_OPTIONS> & {
  input: string;
  output: string;
  baseUrl: string;
};
export type ResolvedBatchOptions = ResolvedOptions<typeof BATCH_OPTIONS> & {
  input: string;
  output: string;
  baseUrl: string;
  errors: string;
};

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
