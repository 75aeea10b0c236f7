/**
 * "What does my key allow, right now?": one cheapest request per model, read with the engine's own
 * header parsing and classification (nothing here parses a header or an error body itself).
 *
 * The cheapest request that still carries the rate-limit headers: a chat completion with a max of one
 * token (OpenAI-compatible servers, an Azure deployment), one input string for an embedding model, a
 * one-token `/v1/messages` call for Anthropic. Exactly one attempt per model, never a retry: a probe
 * that retried into a limit would spend what it is asked to measure.
 */
import { classify } from '../engine/classify.js';
import { parseServerView } from '../engine/headers.js';
import { readBucket } from '../engine/learn.js';
import { DAY_MS } from '../engine/limits.js';
import type { Classification, Dimension, Outcome } from '../engine/types.js';
import { parseJson } from '../formats/json.js';

export type ProbeFlavor = 'openai' | 'azure' | 'anthropic';
export const PROBE_FLAVORS: readonly ProbeFlavor[] = ['openai', 'azure', 'anthropic'];

/** The limit names people use: requests and tokens per minute and per day, Anthropic's input and output tokens. */
export type LimitName = 'RPM' | 'TPM' | 'RPD' | 'TPD' | 'ITPM' | 'OTPM';

/** One limit as the server reported it. */
export interface LimitReading {
  name: LimitName;
  dimension: Dimension;
  /** 60000 or 86400000. */
  windowMs: number;
  /** Absent when the server said only what remains (Azure does at times). */
  limit?: number;
  remaining?: number;
  /** Time until the bucket is full again. */
  fullInMs?: number;
}

/** What went wrong, in the words `sluice limits` prints, with what to do. */
export interface ProbeProblem {
  kind: 'quota_exhausted' | 'invalid_key' | 'rate_limited' | 'model_not_found' | 'failed' | 'unreachable';
  /** The server's own message, when it gave one. */
  message?: string;
}

export interface ModelLimits {
  model: string;
  /** The URL probed (no key in it). */
  url: string;
  /** HTTP status of the answer; absent when nothing answered. */
  status?: number;
  /** The engine's reading of the answer; `unreachable` when there was none. */
  outcome: Outcome | 'unreachable';
  limits: LimitReading[];
  /** What the answer did not tell, one sentence each. */
  notLearned: string[];
  problem?: ProbeProblem;
  /** The wait the server asked for, on a 429. */
  retryAfterMs?: number;
  requestId?: string;
  /** Time the answer took, in ms. */
  elapsedMs: number;
}

export interface ProbeOptions {
  /** The API base URL as the SDKs take it (`https://api.openai.com/v1`, `https://api.anthropic.com`, an Azure resource URL). */
  baseUrl: string;
  /** Sent as the flavor's credential header; never logged, never returned. */
  apiKey?: string;
  /** @default from the base URL's host ({@link flavorOf}) */
  flavor?: ProbeFlavor;
  /** Azure's `api-version`. @default '2024-10-21' */
  apiVersion?: string;
  /** @default 30000 */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** @default Date.now */
  now?: () => number;
}

export const PROBE_DEFAULTS = Object.freeze({
  apiVersion: '2024-10-21',
  timeoutMs: 30_000,
  /** Models probed when none are named. */
  models: Object.freeze({
    openai: 'gpt-4o-mini',
    azure: undefined,
    anthropic: 'claude-haiku-4-5',
  }) as Readonly<Record<ProbeFlavor, string | undefined>>,
});

/** The flavor a base URL's host implies: Anthropic's API, an Azure OpenAI resource, else OpenAI-compatible. */
export function flavorOf(baseUrl: string): ProbeFlavor {
  let host: string;
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    return 'openai';
  }
  if (host === 'api.anthropic.com' || host.endsWith('.anthropic.com')) return 'anthropic';
  if (
    host.endsWith('.openai.azure.com') ||
    host.endsWith('.cognitiveservices.azure.com') ||
    host.endsWith('.services.ai.azure.com')
  )
    return 'azure';
  return 'openai';
}

/** The request a probe sends for `model`: the cheapest that still carries the rate-limit headers. */
export function probeRequest(
  options: ProbeOptions,
  model: string,
): { url: string; headers: Record<string, string>; body: string } {
  const flavor = options.flavor ?? flavorOf(options.baseUrl);
  const base = options.baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = options.apiKey;
  if (flavor === 'anthropic') {
    if (key !== undefined) headers['x-api-key'] = key;
    headers['anthropic-version'] = '2023-06-01';
    const root = /\/v1$/.test(base) ? base : `${base}/v1`;
    return {
      url: `${root}/messages`,
      headers,
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: 'user', content: '.' }] }),
    };
  }
  const embedding = /embed/i.test(model);
  if (flavor === 'azure') {
    if (key !== undefined) headers['api-key'] = key;
    const root = base.replace(/\/(openai\/)?v1$/, '').replace(/\/openai$/, '');
    const version = encodeURIComponent(options.apiVersion ?? PROBE_DEFAULTS.apiVersion);
    const operation = embedding ? 'embeddings' : 'chat/completions';
    return {
      url: `${root}/openai/deployments/${encodeURIComponent(model)}/${operation}?api-version=${version}`,
      headers,
      body: JSON.stringify(
        embedding ? { input: '.' } : { messages: [{ role: 'user', content: '.' }], max_completion_tokens: 1 },
      ),
    };
  }
  if (key !== undefined) headers['authorization'] = `Bearer ${key}`;
  if (embedding) {
    return { url: `${base}/embeddings`, headers, body: JSON.stringify({ model, input: '.' }) };
  }
  // OpenAI's newer models refuse `max_tokens`; OpenAI-compatible servers do not all know its successor.
  const official = /(^|\.)openai\.com$/i.test(safeHost(base));
  return {
    url: `${base}/chat/completions`,
    headers,
    body: JSON.stringify({
      model,
      messages: [{ role: 'user', content: '.' }],
      ...(official ? { max_completion_tokens: 1 } : { max_tokens: 1 }),
    }),
  };
}

/** Probes one model: one request, no retry. Never throws for what the server answers or for a network failure. */
export async function probeLimits(options: ProbeOptions, model: string): Promise<ModelLimits> {
  const flavor = options.flavor ?? flavorOf(options.baseUrl);
  const now = options.now ?? Date.now;
  const request = probeRequest({ ...options, flavor }, model);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const started = now();
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(options.timeoutMs ?? PROBE_DEFAULTS.timeoutMs),
    });
    text = await response.text();
  } catch (err) {
    return {
      model,
      url: request.url,
      outcome: 'unreachable',
      limits: [],
      notLearned: ['every limit: nothing answered'],
      problem: { kind: 'unreachable', message: errorText(err) },
      elapsedMs: now() - started,
    };
  }
  const answeredAt = now();
  const body = response.ok ? undefined : (parseJson(text) ?? text);
  const view = parseServerView(response.headers, answeredAt, body);
  const cls = classify(response.status, view, body);
  const limits = readingsOf(view.buckets);
  const result: ModelLimits = {
    model,
    url: request.url,
    status: response.status,
    outcome: cls.outcome,
    limits,
    notLearned: notLearned(flavor, limits),
    elapsedMs: answeredAt - started,
  };
  const problem = problemOf(cls);
  if (problem) result.problem = problem;
  if (view.retryAfterMs !== undefined && !response.ok) result.retryAfterMs = view.retryAfterMs;
  if (view.requestId !== undefined) result.requestId = view.requestId;
  return result;
}

const ORDER: readonly LimitName[] = ['RPM', 'TPM', 'ITPM', 'OTPM', 'RPD', 'TPD'];

function readingsOf(buckets: ReturnType<typeof parseServerView>['buckets']): LimitReading[] {
  const out: LimitReading[] = [];
  for (const dimension of ['requests', 'tokens', 'inputTokens', 'outputTokens'] as const) {
    const b = buckets[dimension];
    if (!b) continue;
    // The engine's own reading decides the window (a per-day bucket shows in its reset).
    const windowMs = readBucket(b)?.windowMs ?? 60_000;
    const reading: LimitReading = { name: nameOf(dimension, windowMs), dimension, windowMs };
    if (b.limit !== undefined) reading.limit = b.limit;
    if (b.remaining !== undefined) reading.remaining = b.remaining;
    if (b.resetMs !== undefined) reading.fullInMs = b.resetMs;
    out.push(reading);
  }
  return out.sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
}

function nameOf(dimension: Dimension, windowMs: number): LimitName {
  const day = windowMs >= DAY_MS;
  switch (dimension) {
    case 'requests':
      return day ? 'RPD' : 'RPM';
    case 'tokens':
      return day ? 'TPD' : 'TPM';
    case 'inputTokens':
      return 'ITPM';
    case 'outputTokens':
      return 'OTPM';
  }
}

/** What the answer could not tell, per flavor. */
function notLearned(flavor: ProbeFlavor, limits: readonly LimitReading[]): string[] {
  const out: string[] = [];
  if (limits.length === 0) {
    out.push(
      'every limit: the answer carried no rate-limit headers (Gemini and many OpenAI-compatible servers send none); give them with --rpm/--tpm',
    );
    return out;
  }
  const has = (name: LimitName) => limits.some((l) => l.name === name);
  const expected: LimitName[] = flavor === 'anthropic' ? ['RPM', 'ITPM', 'OTPM'] : ['RPM', 'TPM'];
  for (const name of expected) if (!has(name)) out.push(`${name}: not in the answer's headers`);
  for (const l of limits) {
    if (l.limit === undefined) out.push(`${l.name} limit: the server said only what remains`);
  }
  if (flavor !== 'anthropic' && !has('RPD') && !has('TPD')) {
    out.push(
      'RPD, TPD: the headers describe the tightest bucket, and a per-day one shows only when it binds',
    );
  }
  return out;
}

function problemOf(cls: Classification): ProbeProblem | undefined {
  const withMessage = (kind: ProbeProblem['kind']): ProbeProblem =>
    cls.message === undefined ? { kind } : { kind, message: cls.message };
  switch (cls.outcome) {
    case 'success':
      return undefined;
    case 'quota_exhausted':
      return withMessage('quota_exhausted');
    case 'rate_limited':
    case 'slow_down':
    case 'request_too_large':
      return withMessage('rate_limited');
    case 'transient':
      return withMessage('failed');
    case 'fatal':
      if (cls.status === 401 || cls.status === 403) return withMessage('invalid_key');
      if (cls.status === 404) return withMessage('model_not_found');
      // Anthropic's spent credit is a 400 whose message is its only mark (see classify.ts).
      if (cls.status === 400 && cls.message !== undefined && /credit balance/i.test(cls.message))
        return withMessage('quota_exhausted');
      return withMessage('failed');
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
