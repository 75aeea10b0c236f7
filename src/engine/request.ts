/**
 * What a shell hands the engine and what it gets back: the public request and answer types of
 * `Engine.execute()`. Types only.
 */
import type { Usage } from './cost.js';
import type { Priority } from './events.js';
import type { Classification } from './types.js';

/**
 * Identifies a lane: one upstream, one API key (by fingerprint, never the key), one model. `upstream`
 * and `keyFingerprint` must not contain `|` (the lane id joins the three with it; see `lane-id.ts`).
 */
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

/**
 * Tokens a request reserves at admission: its prompt, and its completion part — the max it names, or
 * `n ×` the lane's typical completion when it names none.
 */
export function admittedTokens(cost: CostEstimate, typicalCompletion: number): number {
  return cost.promptTokens + admittedOutput(cost, typicalCompletion);
}

/**
 * The completion part of {@link admittedTokens}: what an output-token bucket (Anthropic's OTPM) is
 * charged at admission — the max the request names, as Anthropic charges it, or the typical completion.
 */
export function admittedOutput(cost: CostEstimate, typicalCompletion: number): number {
  return cost.maxGiven ? cost.completionTokens : cost.n * typicalCompletion;
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
  /** The record's header names are all lower case (`node:http`'s `IncomingMessage.headers`). */
  lowerCaseHeaders?: boolean;
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
