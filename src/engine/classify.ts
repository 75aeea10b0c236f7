/**
 * Answer -> {@link Outcome}: the table in the design's "One request's way through the engine".
 *
 * Outcomes are decided by structured fields only — HTTP status, `error.type`, `error.code`, Gemini's
 * `error.status` and quota ids, `x-should-retry`. Messages are read for figures and waits, and in one
 * place to tell "Request too large" from a plain rate limit (see {@link isRequestTooLarge}); never to
 * decide an outcome on their own, because message wording changes without notice and differs between
 * providers, while codes are documented contracts.
 */

import { isRecord, parseJson } from '../formats/json.js';
import { readProviderError, retryAfterFromError, type ProviderError } from './headers.js';
import type { Classification, Outcome, QuotedUsage, ServerView } from './types.js';

/**
 * Codes that mean "the account cannot pay": retrying cannot help. OpenAI sends them with type
 * `insufficient_quota` (older answers had `code: null` with that type, hence the type check too).
 */
const QUOTA_CODES: ReadonlySet<string> = new Set([
  'insufficient_quota',
  'credit_balance_exhausted',
  'organization_usage_limit_exceeded',
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
]);

/**
 * Error types that name a rate limit: OpenAI's bucket (`tokens`, `requests`), Anthropic's and OpenAI's
 * `rate_limit_error` (the latter also carries `slow_down`, which is checked first).
 */
const RATE_LIMIT_TYPES: ReadonlySet<string> = new Set(['tokens', 'requests', 'rate_limit_error']);

/**
 * Error types and codes that say the server failed, whatever the HTTP status (they matter inside a
 * 200 stream, where the status says nothing): OpenAI `server_error`, Anthropic `api_error`,
 * `overloaded_error`, `timeout_error`.
 */
const SERVER_ERROR_TYPES: ReadonlySet<string> = new Set([
  'server_error',
  'api_error',
  'overloaded_error',
  'timeout_error',
]);

/** Gemini canonical statuses that mean "try again later" (the HTTP status is usually 5xx as well). */
const TRANSIENT_GOOGLE_STATUSES: ReadonlySet<string> = new Set([
  'UNAVAILABLE',
  'INTERNAL',
  'DEADLINE_EXCEEDED',
]);

const QUOTA_FAILURE_TYPE = 'type.googleapis.com/google.rpc.QuotaFailure';

const QUOTED_LIMIT = /\bLimit:? (\d(?:[\d,]*\d)?)/;
const QUOTED_USED = /\bUsed:? (\d(?:[\d,]*\d)?)/;
const QUOTED_REQUESTED = /\bRequested:? (\d(?:[\d,]*\d)?)/;
const QUOTED_UNIT = /\((TPM|RPM|TPD|RPD)\)/;
const PER_DAY = /\bper day\b/i;

/**
 * Classifies one HTTP answer.
 *
 * @param status the HTTP status.
 * @param view what {@link parseServerView} read from the same answer (pass it the same body, so the
 *   wait quoted in the message is in `view.retryAfterMs`).
 * @param body the error body: a parsed object, a JSON string or absent.
 *
 * `waitMs` is set on `rate_limited`, `slow_down` and `transient` outcomes when the server named a wait
 * (`view.retryAfterMs`, else one read from the body).
 *
 * `x-should-retry` adjusts only the generic outcomes: `false` turns a would-be `transient` into `fatal`;
 * `true` turns a 4xx `fatal` into `transient` (the server knows better than a generic status whether
 * the same request can succeed later; the official SDKs obey the header the same way). It never overrides a structured rate-limit, quota or
 * too-large answer: those bodies carry more information than the one-bit header.
 */
export function classify(status: number, view: ServerView, body?: unknown): Classification {
  if (status >= 200 && status < 300) return { outcome: 'success', status };
  const error = readProviderError(body);
  const result = decide(status, error);
  let outcome = result.outcome;
  if (outcome === 'transient' && view.shouldRetry === false) outcome = 'fatal';
  else if (outcome === 'fatal' && view.shouldRetry === true && status >= 400 && status < 500) {
    outcome = 'transient';
  }
  return build(outcome, status, error, result, view.retryAfterMs);
}

/**
 * Classifies one SSE `data:` payload of a stream whose HTTP status was 2xx. Returns `undefined` for
 * ordinary chunks, and a classification (with `status: 200`) when the payload is an error event:
 * `{"error":{…}}` (chat completions), `{"type":"error",…}` (Responses API, Anthropic `event: error`)
 * or `{"type":"response.failed",…}`.
 *
 * Cheap on ordinary chunks: a payload without the literal `"error"` (quotes included — inside
 * generated text the quotes would be escaped) is rejected before any parsing.
 *
 * Error kinds the table does not name (`invalid_request_error`, an unknown `response.failed` code) are
 * `fatal`: output may already have been produced and billed, so retrying blindly is the costlier error.
 */
export function classifyStreamEvent(data: string): Classification | undefined {
  if (data.indexOf('"error"') === -1) return undefined;
  let payload = data;
  if (payload.startsWith('data:')) payload = payload.slice(5);
  const record = parseJson(payload);
  if (!isRecord(record)) return undefined;
  // A Responses API object carries `"error": null` on every lifecycle event: that is not an error.
  const isErrorEvent =
    record['type'] === 'error' ||
    record['type'] === 'response.failed' ||
    (typeof record['error'] === 'object' && record['error'] !== null);
  if (!isErrorEvent) return undefined;
  const error = readProviderError(record) ?? {};
  // Gemini and Azure repeat an HTTP status inside the error; it is the best status the event has.
  const embedded = embeddedStatus(error);
  const result = decide(embedded ?? 200, error);
  return build(result.outcome, 200, error, result, undefined);
}

interface Decision {
  outcome: Outcome;
  quoted?: QuotedUsage;
  perDay?: boolean;
}

function decide(status: number, error: ProviderError | undefined): Decision {
  const type = error?.type;
  const code = error?.code;

  if (type === 'insufficient_quota' || (code !== undefined && QUOTA_CODES.has(code))) {
    return { outcome: 'quota_exhausted' };
  }
  // Anthropic's structured billing signal (402 `billing_error`). Its other spend-limit answer is a 400
  // `invalid_request_error` whose only distinguishing mark is the message ("Your credit balance is too
  // low…"); that stays `fatal`: it still fails at once without retry, and tripping a whole lane on a
  // message match would turn any reworded 400 into a lane-wide outage.
  if (type === 'billing_error') return { outcome: 'quota_exhausted' };
  if (code === 'slow_down') return { outcome: 'slow_down' };

  if (
    status === 429 ||
    code === 'rate_limit_exceeded' ||
    code === '429' ||
    (type !== undefined && RATE_LIMIT_TYPES.has(type)) ||
    error?.status === 'RESOURCE_EXHAUSTED'
  ) {
    return rateLimitDecision(error);
  }

  if (
    (type !== undefined && SERVER_ERROR_TYPES.has(type)) ||
    code === 'server_error' ||
    (error?.status !== undefined && TRANSIENT_GOOGLE_STATUSES.has(error.status))
  ) {
    return { outcome: 'transient' };
  }
  if (status === 408 || status === 409 || (status >= 500 && status <= 599)) return { outcome: 'transient' };
  return { outcome: 'fatal' };
}

function rateLimitDecision(error: ProviderError | undefined): Decision {
  const message = error?.message;
  const quoted = message === undefined ? undefined : parseQuoted(message, error?.type);
  if (message !== undefined && isRequestTooLarge(message)) {
    return quoted ? { outcome: 'request_too_large', quoted } : { outcome: 'request_too_large' };
  }
  const decision: Decision = { outcome: 'rate_limited' };
  if (quoted) decision.quoted = quoted;
  if (quoted?.period === 'day' || (message !== undefined && PER_DAY.test(message)) || hasPerDayQuota(error)) {
    decision.perDay = true;
  }
  return decision;
}

/**
 * OpenAI answers "Request too large" with the same status, type and code (`rate_limit_exceeded`) as an
 * ordinary rate limit; the message is the only place it differs. It starts "Request too large" and quotes
 * no "Used" figure (a request that can never fit has nothing to wait for). Both marks are required, so a
 * rewording fails towards `rate_limited` — a wait and a retry — rather than a wrongful permanent failure.
 */
function isRequestTooLarge(message: string): boolean {
  return message.trimStart().startsWith('Request too large') && !QUOTED_USED.test(message);
}

/** "… on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006." → figures, or `undefined`. */
export function parseQuoted(message: string, type?: string): QuotedUsage | undefined {
  const limit = quotedNumber(QUOTED_LIMIT.exec(message));
  const requested = quotedNumber(QUOTED_REQUESTED.exec(message));
  if (limit === undefined || requested === undefined) return undefined;

  let dimension: QuotedUsage['dimension'] | undefined;
  let period: QuotedUsage['period'] = PER_DAY.test(message) ? 'day' : 'minute';
  const unit = QUOTED_UNIT.exec(message)?.[1];
  if (unit !== undefined) {
    dimension = unit[0] === 'T' ? 'tokens' : 'requests';
    period = unit[2] === 'D' ? 'day' : 'minute';
  } else if (type === 'tokens' || type === 'requests') {
    dimension = type;
  }
  if (dimension === undefined) return undefined;

  const quoted: QuotedUsage = { dimension, period, limit, requested };
  const used = quotedNumber(QUOTED_USED.exec(message));
  if (used !== undefined) quoted.used = used;
  return quoted;
}

function quotedNumber(match: RegExpExecArray | null): number | undefined {
  const text = match?.[1];
  if (text === undefined) return undefined;
  const value = Number(text.replaceAll(',', ''));
  return Number.isFinite(value) ? value : undefined;
}

/** Gemini `QuotaFailure.violations[].quotaId` such as `GenerateRequestsPerDayPerProjectPerModel-FreeTier`. */
function hasPerDayQuota(error: ProviderError | undefined): boolean {
  if (!error?.details) return false;
  for (const detail of error.details) {
    if (typeof detail !== 'object' || detail === null) continue;
    const record = detail as Record<string, unknown>;
    if (record['@type'] !== QUOTA_FAILURE_TYPE || !Array.isArray(record['violations'])) continue;
    for (const violation of record['violations'] as unknown[]) {
      if (typeof violation !== 'object' || violation === null) continue;
      const quotaId = (violation as Record<string, unknown>)['quotaId'];
      if (typeof quotaId === 'string' && quotaId.includes('PerDay')) return true;
    }
  }
  return false;
}

function embeddedStatus(error: ProviderError): number | undefined {
  const candidate = error.numericCode ?? (error.code !== undefined ? Number(error.code) : undefined);
  return candidate !== undefined && Number.isInteger(candidate) && candidate >= 400 && candidate <= 599
    ? candidate
    : undefined;
}

function build(
  outcome: Outcome,
  status: number,
  error: ProviderError | undefined,
  decision: Decision,
  viewWaitMs: number | undefined,
): Classification {
  const result: Classification = { outcome, status };
  if (error) {
    // Gemini's machine-readable code is its canonical status; its numeric code repeats the HTTP status.
    const code = error.code ?? error.status;
    if (code !== undefined) result.code = code;
    if (error.type !== undefined) result.type = error.type;
    if (error.message !== undefined) result.message = error.message;
  }
  if (outcome === 'rate_limited' || outcome === 'slow_down' || outcome === 'transient') {
    const waitMs = viewWaitMs ?? retryAfterFromError(error);
    if (waitMs !== undefined) result.waitMs = waitMs;
  }
  if (decision.perDay) result.perDay = true;
  if (decision.quoted) result.quoted = decision.quoted;
  return result;
}
