/**
 * Anthropic: `x-api-key`, `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 * with RFC 3339 reset times (when the bucket is fully refilled, rounded up to the second) and token
 * `remaining` rounded down to the thousand, `request-id`, `retry-after` in seconds (no `retry-after-ms`),
 * and `{"type":"error","error":{"type","message"}}` bodies. Running out of credit is a 400, not a 429;
 * an overloaded API a 529 `overloaded_error`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dialect, ErrorReply } from '../dialect.js';
import type { Dimension, Lane, Period } from '../limiter.js';
import { reply } from './openai.js';

function error(status: number, type: string, message: string, retryAfterMs?: number): ErrorReply {
  return reply(status, { type: 'error', error: { type, message } }, retryAfterMs);
}

/** `1234567` → `1,234,567`, without depending on the runtime's locale data. */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** RFC 3339 in UTC with whole seconds, rounded up: `2026-01-01T00:00:07Z`. */
export function rfc3339(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const HEADER_NAMES: Record<Dimension, string> = {
  requests: 'requests',
  tokens: 'tokens',
  inputTokens: 'input-tokens',
  outputTokens: 'output-tokens',
};

const UNIT_NAMES: Record<Dimension, string> = {
  requests: 'requests',
  tokens: 'tokens',
  inputTokens: 'input tokens',
  outputTokens: 'output tokens',
};

function per(period: Period): string {
  return period === 'minute' ? 'per minute' : 'per day';
}

const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens', 'inputTokens', 'outputTokens'];

export const anthropicDialect: Dialect = {
  sendsRetryAfterMs: false,
  apiKey(headers: IncomingHttpHeaders) {
    const key = headers['x-api-key'];
    return typeof key === 'string' ? key : undefined;
  },
  identityHeaders(id, _processingMs, out) {
    out.push('request-id', `req_${id}`);
  },
  limitHeaders(lane: Lane, now: number, out: string[]) {
    for (const dimension of DIMENSIONS) {
      const view = lane.view(dimension, now);
      if (view === undefined) continue;
      const name = `anthropic-ratelimit-${HEADER_NAMES[dimension]}`;
      const remaining = dimension === 'requests' ? view.remaining : Math.floor(view.remaining / 1000) * 1000;
      out.push(
        `${name}-limit`,
        String(view.limit),
        `${name}-remaining`,
        String(remaining),
        `${name}-reset`,
        rfc3339(now + view.resetMs),
      );
    }
  },
  refusal(decision, ctx) {
    switch (decision.kind) {
      case 'rate_limited':
        return error(
          429,
          'rate_limit_error',
          `This request would exceed the rate limit for your organization (${ctx.organization}) of ` +
            `${thousands(decision.limit)} ${UNIT_NAMES[decision.dimension]} ${per(decision.period)}. ` +
            'For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers ' +
            'for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
          decision.waitMs,
        );
      case 'too_large':
        return error(
          429,
          'rate_limit_error',
          `This request would exceed the rate limit for your organization (${ctx.organization}) of ` +
            `${thousands(decision.limit)} ${UNIT_NAMES[decision.dimension]} ${per(decision.period)}, whatever the wait: ` +
            `it needs ${thousands(decision.requested)}. Please reduce the prompt length or the maximum tokens requested.`,
        );
      case 'quota':
        return error(
          400,
          'invalid_request_error',
          'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
        );
      case 'slow_down':
        return error(
          429,
          'rate_limit_error',
          `This request would exceed the acceleration limit for your organization (${ctx.organization}): your ` +
            'request rate is increasing too quickly. Please ramp up more gradually and try again.',
          decision.waitMs,
        );
    }
  },
  badRequest(e) {
    return error(400, 'invalid_request_error', e.message);
  },
  unauthorized() {
    return error(401, 'authentication_error', 'invalid x-api-key');
  },
  serverError(status) {
    // Anthropic answers an overloaded API with its own 529, not 503.
    return status === 503
      ? error(529, 'overloaded_error', 'Overloaded')
      : error(status, 'api_error', 'Internal server error');
  },
  notFound(method, path) {
    return error(404, 'not_found_error', `Not found: ${method} ${path}`);
  },
};
