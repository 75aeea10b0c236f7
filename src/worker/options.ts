/**
 * Every option of `sluice worker`, declared once: `WorkerCore` resolves this table, `src/cli/worker.ts`
 * turns it into flags (with the transport's own), and docs/worker.md lists them.
 */
import { PRIORITIES } from '../engine/events.js';
import type { EngineOptions } from '../engine/options.js';
import type { Store } from '../engine/store.js';
import { type OptionsInput, type OptionTable, type ResolvedOptions } from '../formats/options.js';
import { custom, duration, oneOf, text, whole } from '../formats/option-kinds.js';
import type { Transport } from '../protocol/http.js';
import { CALLER_OPTIONS } from '../protocol/caller-options.js';

/** Tuning of the worker that is not an option. */
export const WORKER_DEFAULTS = {
  /** Messages held at once after the first answer while the lane's rate is still unknown. */
  startPrefetch: 4,
  /** The most messages one worker holds, whatever the pace. */
  maxPrefetch: 512,
  graceMs: 10_000,
  progressEveryMs: 10_000,
  /** How long a finished custom_id is remembered, so a redelivery does not call the API again. */
  rememberMs: 86_400_000,
  quotaProbeMs: 60_000,
} as const;

const isObject = <T>(v: unknown): v is T => typeof v === 'object' && v !== null && !Array.isArray(v);

export const WORKER_OPTIONS = {
  /** The queue to consume; results go to `<queue>.results`, malformed messages to `<queue>.dead`. */
  queue: text({ placeholder: 'name', help: 'the queue to drain (required)' }),
  /** Where results go. @default `<queue>.results` (or each message's `reply_to`) */
  results: text({
    placeholder: 'name',
    defaultText: "<queue>.results, or the message's reply_to",
    help: 'the queue results are published to',
  }),
  /** Base URL of the API, `/v1` included. */
  baseUrl: text({ flag: false, help: 'the API base URL' }),
  ...CALLER_OPTIONS,
  /**
   * Messages held at once (waiting for admission or on the wire). @default from the pace: twice the
   * lane's rate × the answers' latency, re-computed as limits and latency are learned
   */
  concurrency: whole({
    min: 1,
    max: WORKER_DEFAULTS.maxPrefetch,
    placeholder: 'n',
    defaultText: 'from the pace (rate × latency)',
    help: 'messages held at once (waiting for admission or on the wire)',
  }),
  /** The class a message waits in when it names none (`x-sluice-priority` header, broker priority). @default 'batch' */
  priority: oneOf(PRIORITIES, {
    default: 'batch',
    placeholder: 'class',
    help: 'the class messages wait in when they name none, against other work sharing the limits',
  }),
  /** On SIGTERM, how long requests on the wire may take to finish before they go back to the queue. */
  graceMs: duration({
    default: WORKER_DEFAULTS.graceMs,
    flag: 'grace',
    help: 'on SIGTERM, how long requests on the wire may take before their messages are returned',
  }),
  /** After a quota error, how long consumption pauses before one message probes the quota. */
  quotaProbeMs: duration({
    default: WORKER_DEFAULTS.quotaProbeMs,
    flag: 'quota-probe',
    help: 'after a quota error, how long consumption pauses before one message probes it',
  }),
  /** How long a finished custom_id is remembered (in Redis with --redis), so a redelivery is not sent again. */
  rememberMs: duration({
    default: WORKER_DEFAULTS.rememberMs,
    flag: 'remember',
    help: 'how long finished custom_ids are remembered, so a redelivered message is not sent again',
  }),
  /** Where limiter state lives (a Redis store shares limits with other workers). @default memory */
  store: custom((v): v is Store => isObject<Store>(v) && typeof (v as Store).reserve === 'function', {
    expected: 'a Store (e.g. createRedisStore())',
    defaultText: 'memory',
    help: 'where limiter state lives',
  }),
  /** How requests reach the API. @default a keep-alive `node:http(s)` transport */
  transport: custom((v): v is Transport => typeof v === 'function', {
    expected: 'a transport function',
    help: 'how requests reach the API',
  }),
  /** Extra engine options (tests: retry policy, clock). Limits come from `rpm`/`tpm`. */
  engine: custom((v): v is Omit<EngineOptions, 'limits'> => isObject(v), {
    expected: 'engine options',
    help: 'extra engine options',
  }),
} satisfies OptionTable;

export type WorkerOptions = OptionsInput<typeof WORKER_OPTIONS> & { queue: string; baseUrl: string };
export type ResolvedWorkerOptions = ResolvedOptions<typeof WORKER_OPTIONS> & {
  queue: string;
  baseUrl: string;
};
