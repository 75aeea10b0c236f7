/**
 * OpenAI: `Authorization: Bearer`, `x-ratelimit-*` headers with Go-duration resets describing the
 * binding bucket of each dimension, and the error bodies of `formats/openai-errors.ts`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { formatGoDuration } from '../../formats/duration.js';
import {
  insufficientQuotaError,
  invalidApiKeyError,
  invalidRequestError,
  notFoundError,
  rateLimitError,
  requestTooLargeError,
  serverError,
  slowDownError,
  type LimitDimension,
} from '../../formats/openai-errors.js';
import type { Dialect, ErrorReply, RefusalContext } from '../dialect.js';
import type { Decision, Dimension, Lane } from '../limiter.js';
import type { BadRequest } from '../request.js';

/** The key of `Authorization: Bearer <key>`. */
export function bearerKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth === undefined) return undefined;
  return auth.startsWith('Bearer ') ? auth.slice(7).trim() : auth.trim();
}

/** OpenAI speaks of requests and tokens only; Anthropic's input/output dimensions never reach here. */
function openaiDimension(dimension: Dimension): LimitDimension {
  return dimension === 'requests' ? 'requests' : 'tokens';
}

/** Appends `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, formatting resets with `reset`. */
export function appendRateLimitHeaders(
  lane: Lane,
  now: number,
  out: string[],
  reset: (ms: number) => string,
): void {
  const requests = lane.view('requests', now);
  if (requests !== undefined) {
    out.push(
      'x-ratelimit-limit-requests',
      String(requests.limit),
      'x-ratelimit-remaining-requests',
      String(requests.remaining),
      'x-ratelimit-reset-requests',
      reset(requests.resetMs),
    );
  }
  const tokens = lane.view('tokens', now);
  if (tokens !== undefined) {
    out.push(
      'x-ratelimit-limit-tokens',
      String(tokens.limit),
      'x-ratelimit-remaining-tokens',
      String(tokens.remaining),
      'x-ratelimit-reset-tokens',
      reset(tokens.resetMs),
    );
  }
}

export function reply(status: number, body: unknown, retryAfterMs?: number): ErrorReply {
  return retryAfterMs === undefined
    ? { status, body: JSON.stringify(body) }
    : { status, body: JSON.stringify(body), retryAfterMs };
}

/** OpenAI's wording of a limiter refusal; Azure reuses it for all but rate limits. */
export function openaiRefusal(
  decision: Exclude<Decision, { kind: 'admitted' }>,
  ctx: RefusalContext,
): ErrorReply {
  switch (decision.kind) {
    case 'rate_limited':
      return reply(
        429,
        rateLimitError({
          model: ctx.model,
          organization: ctx.organization,
          dimension: openaiDimension(decision.dimension),
          period: decision.period,
          limit: decision.limit,
          used: decision.used,
          requested: decision.requested,
          waitMs: decision.waitMs,
        }),
        decision.waitMs,
      );
    case 'too_large':
      return reply(
        429,
        requestTooLargeError({
          model: ctx.model,
          organization: ctx.organization,
          dimension: openaiDimension(decision.dimension),
          period: decision.period,
          limit: decision.limit,
          requested: decision.requested,
        }),
      );
    case 'quota':
      return reply(429, insufficientQuotaError());
    case 'slow_down':
      return reply(429, slowDownError(), decision.waitMs);
  }
}

export const openaiDialect: Dialect = {
  sendsRetryAfterMs: true,
  apiKey: bearerKey,
  identityHeaders(id, processingMs, out) {
    out.push(
      'x-request-id',
      `req_${id}`,
      'openai-processing-ms',
      String(Math.round(processingMs)),
      'openai-version',
      '2020-10-01',
    );
  },
  limitHeaders(lane, now, out) {
    appendRateLimitHeaders(lane, now, out, formatGoDuration);
  },
  refusal: openaiRefusal,
  badRequest(error: BadRequest) {
    return reply(400, invalidRequestError(error.message, error.param, error.code));
  },
  unauthorized(key) {
    return reply(401, invalidApiKeyError(key));
  },
  serverError(status) {
    return reply(status, serverError(status));
  },
  notFound(method, path) {
    return reply(404, notFoundError(method, path));
  },
};
