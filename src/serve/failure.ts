/**
 * The gateway's answers when a request through the engine fails: a Sluice error in OpenAI's shape, the
 * upstream's own quota or too-large answer passed through as it was, or `shutting_down` while draining.
 */
import type { SluiceError } from '../engine/errors.js';
import { errorAnswer, laneLimitHeaders, RESPONSE_HEADERS, type LaneBuckets } from '../protocol/response.js';
import { errorBody, writeJson, writeText, type ClientAnswer } from './wire.js';

/** 503 `shutting_down`: the gateway is draining. */
export function writeDraining(res: ClientAnswer): void {
  writeJson(
    res,
    503,
    errorBody('server_error', 'shutting_down', 'The gateway is shutting down; retry on another instance.'),
    {
      'retry-after': '1',
      connection: 'close',
    },
  );
}

/**
 * A Sluice failure, or the upstream's own quota / too-large answer passed through as it was; both with
 * the lane's limit headers when the lane is known.
 */
export function writeFailure(res: ClientAnswer, err: SluiceError, lane: LaneBuckets | undefined): void {
  const limits = lane ? laneLimitHeaders(lane) : {};
  const upstreamOwn =
    (err.code === 'quota_exhausted' || err.code === 'request_too_large') &&
    err.status !== undefined &&
    err.body !== undefined;
  if (!upstreamOwn) {
    const answer = errorAnswer(err);
    return writeText(res, answer.status, answer.body, { ...answer.headers, ...limits });
  }
  const wait = err.retryAfterMs;
  writeText(res, err.status!, typeof err.body === 'string' ? err.body : JSON.stringify(err.body), {
    'content-type': 'application/json',
    [RESPONSE_HEADERS.errorCode]: err.code,
    ...(wait !== undefined && Number.isFinite(wait) ? { 'retry-after': String(Math.ceil(wait / 1000)) } : {}),
    ...limits,
  });
}
