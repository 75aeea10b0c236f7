/**
 * What one request's end means for its line and for the run, decided from the engine's answer or error
 * alone: a result for the output, a failure for the errors file (with its code and a message a CLI user
 * can act on), and whether the run must stop. Pure: the runner records and acts on the verdict.
 */
import type { SluiceError } from '../engine/errors.js';
import type { BatchResponse } from '../formats/batch-lines.js';
import type { BatchErrorCode } from './codes.js';
import type { Answer } from '../protocol/http.js';
import { describeBody } from '../formats/openai-errors.js';
import { failureMessage, quotaDetail, snippet } from './messages.js';
import type { StopInfo } from './options.js';

export type { Answer } from '../protocol/http.js';

export type Verdict =
  | { kind: 'succeeded'; response: BatchResponse }
  | {
      kind: 'failed';
      code: BatchErrorCode;
      message: string;
      response: BatchResponse | null;
      /** The failure says the upstream is unusable (it counts towards stopping the run). */
      upstreamDown?: string;
      stop?: StopInfo;
    }
  /** Not sent after all (the quota was spent before it went); the run stops. */
  | { kind: 'not_attempted'; stop: StopInfo };

/** The verdict on a final answer: a success, or a 4xx the engine passed through. */
export function answerVerdict(answer: Answer, outcome: 'success' | 'fatal'): Verdict {
  const response: BatchResponse = {
    status_code: answer.status,
    request_id: answer.requestId,
    body: answer.body,
  };
  const body = answer.body;
  if (outcome === 'success') {
    if (answer.text === undefined && typeof body === 'object' && body !== null && !Array.isArray(body)) {
      return { kind: 'succeeded', response };
    }
    // A 2xx that is not a JSON object is no API answer: a web page, a proxy's login page.
    return {
      kind: 'failed',
      code: 'invalid_response',
      message: `The API answered ${answer.status}, but the body is not a JSON object (it starts ${snippet(answer.text ?? JSON.stringify(body))}): this is not an API answer. Check --base-url: the API's base URL with /v1 (e.g. https://api.openai.com/v1), not a web page; then --resume --retry-failed sends the line again.`,
      response,
      upstreamDown: 'answers that are not JSON',
    };
  }
  const upstream = describeBody(body);
  if (answer.status === 401) {
    return {
      kind: 'failed',
      code: 'unauthorized',
      message: `The API refused the key (401${upstream}). Check the key, then --resume.`,
      response,
      stop: {
        reason: 'unauthorized',
        message: `The API refused the key (401${upstream}). Stopped sending. Check OPENAI_API_KEY (or the variable named by --api-key-env) and the base URL, then resume.`,
      },
    };
  }
  return {
    kind: 'failed',
    code: 'upstream_rejected',
    message: `The API answered ${answer.status}${upstream}. Fix the request; sending it again as it is fails the same way.`,
    response,
  };
}

/**
 * The verdict on a request the engine failed. `sent`: an attempt of it went out (a quota error before
 * that means it was never sent).
 */
export function errorVerdict(err: SluiceError, sent: boolean): Verdict {
  const response: BatchResponse | null =
    err.status === undefined
      ? null
      : { status_code: err.status, request_id: err.requestId ?? null, body: err.body ?? null };
  if (err.code === 'quota_exhausted') {
    const stop: StopInfo = {
      reason: 'quota',
      message: `The account's quota is exhausted: ${quotaDetail(err)}. Stopped sending.`,
    };
    return sent
      ? { kind: 'failed', code: 'quota_exhausted', message: err.message, response, stop }
      : { kind: 'not_attempted', stop };
  }
  const message = failureMessage(err);
  return {
    kind: 'failed',
    code: err.code,
    message,
    response,
    ...(err.code === 'upstream_error' ? { upstreamDown: `last: ${message}` } : {}),
  };
}
