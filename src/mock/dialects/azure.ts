/**
 * Azure OpenAI: `api-key` header, `x-ratelimit-*` resets in integer seconds (rounded up), `apim-request-id`,
 * and the Azure wording of rate-limit 429s ("Please retry after 6 seconds."). Quota, request-too-large,
 * slow_down and 4xx/5xx bodies keep OpenAI's shape.
 */
import { openaiDialect, openaiRefusal, reply, appendRateLimitHeaders } from './openai.js';
import type { Dialect } from '../dialect.js';
import type { Endpoint } from '../request.js';

/** Azure's `api-version` when the request names none. */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

const OPERATIONS: Record<Endpoint, string> = {
  chat: 'ChatCompletions_Create',
  completions: 'Completions_Create',
  embeddings: 'Embeddings_Create',
  responses: 'Responses_Create',
  messages: 'ChatCompletions_Create',
};

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/** Formats the request id as a UUID, as APIM does. */
function uuid(hex: string): string {
  const h = hex.padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export const azureDialect: Dialect = {
  sendsRetryAfterMs: true,
  apiKey(headers) {
    const key = headers['api-key'];
    if (typeof key === 'string') return key;
    return openaiDialect.apiKey(headers);
  },
  identityHeaders(id, processingMs, out) {
    out.push(
      'apim-request-id',
      uuid(id),
      'x-request-id',
      uuid(id),
      'openai-processing-ms',
      String(Math.round(processingMs)),
    );
  },
  limitHeaders(lane, now, out) {
    appendRateLimitHeaders(lane, now, out, (ms) => String(seconds(ms)));
  },
  refusal(decision, ctx) {
    if (decision.kind !== 'rate_limited') return openaiRefusal(decision, ctx);
    const wait = Math.max(1, seconds(decision.waitMs));
    const what = decision.dimension === 'requests' ? 'call rate limit' : 'token rate limit';
    return reply(
      429,
      {
        error: {
          code: '429',
          message:
            `Requests to the ${OPERATIONS[ctx.endpoint]} Operation under Azure OpenAI API version ` +
            `${ctx.apiVersion ?? AZURE_DEFAULT_API_VERSION} have exceeded ${what} of your current OpenAI S0 pricing tier. ` +
            `Please retry after ${wait} ${wait === 1 ? 'second' : 'seconds'}. ` +
            'Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
        },
      },
      decision.waitMs,
    );
  },
  badRequest: openaiDialect.badRequest,
  unauthorized() {
    return reply(401, {
      error: {
        code: '401',
        message:
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key ' +
          'for an active subscription and use a correct regional API endpoint for your resource.',
      },
    });
  },
  serverError: openaiDialect.serverError,
  notFound(method, path) {
    return reply(404, { error: { code: '404', message: `Resource not found (${method} ${path})` } });
  },
};
