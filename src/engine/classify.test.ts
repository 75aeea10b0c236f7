import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { classify, classifyStreamEvent, parseQuoted } from './classify.js';
import { parseServerView, type HeaderSource } from './headers.js';
import type { Classification } from './types.js';

const NOW = Date.parse('2026-03-10T12:00:00Z');

/** Parses the answer the way the engine does, then classifies it. */
function answer(status: number, headers: HeaderSource = {}, body?: unknown): Classification {
  return classify(status, parseServerView(headers, NOW, body), body);
}

function openAiError(message: string, type: string | null, code: string | null) {
  return { error: { message, type, param: null, code } };
}

const RATE_LIMIT_URL = 'Visit https://platform.openai.com/account/rate-limits to learn more.';

const TPM_1146 = openAiError(
  `Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s. ${RATE_LIMIT_URL}`,
  'tokens',
  'rate_limit_exceeded',
);

const QUOTA_MESSAGE =
  'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';

describe('classify: OpenAI 429 rate limits', () => {
  it('reads the TPM example: wait 1146 ms and the quoted figures', () => {
    expect(answer(429, { 'retry-after': '2' }, TPM_1146)).toEqual({
      outcome: 'rate_limited',
      status: 429,
      code: 'rate_limit_exceeded',
      type: 'tokens',
      message: TPM_1146.error.message,
      waitMs: 1146,
      quoted: { dimension: 'tokens', period: 'minute', limit: 50000, used: 47949, requested: 3006 },
    });
  });

  it.each([
    ['tokens', 'tokens per min (TPM)', 10000, 8782, 8172, '41.724s', 41_724, 'minute'],
    ['tokens', 'tokens per min (TPM)', 200000, 195869, 4412, '84ms', 84, 'minute'],
    ['requests', 'requests per min (RPM)', 3, 3, 1, '20s', 20_000, 'minute'],
    ['requests', 'requests per day (RPD)', 200, 200, 1, '7m12s', 432_000, 'day'],
    ['tokens', 'tokens per day (TPD)', 1500000, 1499000, 3000, '2m52.8s', 172_800, 'day'],
  ] as const)('%s: %s %d/%d/%d, wait %s', (type, bucket, limit, used, requested, wait, waitMs, period) => {
    const message = `Rate limit reached for gpt-4o-mini in organization org-abc on ${bucket}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${wait}. ${RATE_LIMIT_URL}`;
    const result = answer(429, {}, openAiError(message, type, 'rate_limit_exceeded'));
    expect(result.outcome).toBe('rate_limited');
    expect(result.waitMs).toBe(waitMs);
    expect(result.quoted).toEqual({ dimension: type, period, limit, used, requested });
    if (period === 'day') expect(result.perDay).toBe(true);
    else expect(result.perDay).toBeUndefined();
  });

  it('reads the RPD example exactly: 432000 ms, per day', () => {
    const body = openAiError(
      `Rate limit reached for gpt-4o-mini in organization org-abc on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. ${RATE_LIMIT_URL}`,
      'requests',
      'rate_limit_exceeded',
    );
    expect(answer(429, {}, body)).toMatchObject({
      outcome: 'rate_limited',
      waitMs: 432_000,
      perDay: true,
      quoted: { dimension: 'requests', period: 'day', limit: 200, used: 200, requested: 1 },
    });
  });

  it('prefers retry-after-ms over the quoted wait', () => {
    expect(answer(429, { 'retry-after-ms': '1200' }, TPM_1146).waitMs).toBe(1200);
  });

  it('falls back to the body for the wait when the view was parsed without it', () => {
    expect(classify(429, parseServerView({}, NOW), TPM_1146).waitMs).toBe(1146);
  });

  it('treats a 429 without a body as a rate limit, with the header wait', () => {
    expect(answer(429, { 'retry-after': '3' })).toEqual({
      outcome: 'rate_limited',
      status: 429,
      waitMs: 3000,
    });
    expect(answer(429, {}, '')).toEqual({ outcome: 'rate_limited', status: 429 });
  });

  it('treats an unknown 429 body as a rate limit', () => {
    expect(answer(429, {}, '<html>Too Many Requests</html>').outcome).toBe('rate_limited');
    expect(
      answer(429, {}, { error: { message: 'Slow', type: 'something_new', code: 'new_code' } }).outcome,
    ).toBe('rate_limited');
  });

  it('reads a JSON string body', () => {
    expect(answer(429, {}, JSON.stringify(TPM_1146))).toMatchObject({
      outcome: 'rate_limited',
      waitMs: 1146,
    });
  });
});

describe('classify: Request too large', () => {
  const tooLarge = openAiError(
    'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 87968. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.',
    'tokens',
    'rate_limit_exceeded',
  );

  it('is request_too_large, with the quoted limit and request and no wait', () => {
    expect(answer(429, { 'retry-after': '1' }, tooLarge)).toEqual({
      outcome: 'request_too_large',
      status: 429,
      code: 'rate_limit_exceeded',
      type: 'tokens',
      message: tooLarge.error.message,
      quoted: { dimension: 'tokens', period: 'minute', limit: 30000, requested: 87968 },
    });
  });

  it('needs both marks: a message quoting "Used" stays a rate limit', () => {
    const odd = openAiError(
      'Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Used 100, Requested 29950.',
      'tokens',
      'rate_limit_exceeded',
    );
    expect(answer(429, {}, odd).outcome).toBe('rate_limited');
  });
});

describe('classify: quota and billing', () => {
  it('is quota_exhausted for insufficient_quota with its code', () => {
    const body = openAiError(QUOTA_MESSAGE, 'insufficient_quota', 'insufficient_quota');
    expect(answer(429, { 'retry-after': '20' }, body)).toEqual({
      outcome: 'quota_exhausted',
      status: 429,
      code: 'insufficient_quota',
      type: 'insufficient_quota',
      message: QUOTA_MESSAGE,
    });
  });

  it('is quota_exhausted for the older body with code null', () => {
    const result = answer(429, {}, openAiError(QUOTA_MESSAGE, 'insufficient_quota', null));
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.code).toBeUndefined();
  });

  it.each([
    'insufficient_quota',
    'credit_balance_exhausted',
    'organization_usage_limit_exceeded',
    'organization_spend_limit_exceeded',
    'project_spend_limit_exceeded',
  ])('is quota_exhausted for code %s, with or without the type, at any status', (code) => {
    for (const status of [429, 403, 400, 402]) {
      expect(answer(status, {}, openAiError('Billing.', 'insufficient_quota', code)).outcome).toBe(
        'quota_exhausted',
      );
      expect(answer(status, {}, openAiError('Billing.', null, code)).outcome).toBe('quota_exhausted');
      expect(answer(status, {}, openAiError('Billing.', 'invalid_request_error', code))).toMatchObject({
        outcome: 'quota_exhausted',
        code,
      });
    }
  });

  it('is not rescued by x-should-retry: true', () => {
    const body = openAiError(QUOTA_MESSAGE, 'insufficient_quota', 'insufficient_quota');
    expect(answer(429, { 'x-should-retry': 'true' }, body).outcome).toBe('quota_exhausted');
  });

  it('does not decide on the message alone', () => {
    const body = openAiError(QUOTA_MESSAGE, 'invalid_request_error', 'something_else');
    expect(answer(400, {}, body).outcome).toBe('fatal');
  });
});

describe('classify: slow_down', () => {
  it('is slow_down with the server wait', () => {
    const body = openAiError(
      'Your traffic increased too quickly. Please slow down and ramp up gradually.',
      'rate_limit_error',
      'slow_down',
    );
    expect(answer(429, { 'retry-after': '2' }, body)).toMatchObject({
      outcome: 'slow_down',
      status: 429,
      code: 'slow_down',
      type: 'rate_limit_error',
      waitMs: 2000,
    });
  });
});

describe('classify: Azure OpenAI', () => {
  const body = {
    error: {
      code: '429',
      message:
        'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
    },
  };
  const headers = {
    'retry-after': '6',
    'x-ratelimit-limit-requests': '-1',
    'x-ratelimit-remaining-requests': '-1',
    'x-ratelimit-reset-requests': '6',
    'x-ratelimit-remaining-tokens': '0',
    'x-ratelimit-reset-tokens': '6',
  };

  it('is rate_limited with the 6 s wait, and its headers parse', () => {
    const view = parseServerView(headers, NOW, body);
    expect(view.buckets).toEqual({ requests: { resetMs: 6000 }, tokens: { remaining: 0, resetMs: 6000 } });
    expect(classify(429, view, body)).toEqual({
      outcome: 'rate_limited',
      status: 429,
      code: '429',
      message: body.error.message,
      waitMs: 6000,
    });
  });

  it('is rate_limited on code "429" even without the status (e.g. a gateway that rewrote it)', () => {
    expect(answer(400, {}, body).outcome).toBe('rate_limited');
  });
});

describe('classify: Anthropic', () => {
  const headers = {
    'retry-after': '14',
    'anthropic-ratelimit-input-tokens-limit': '20000',
    'anthropic-ratelimit-input-tokens-remaining': '0',
    'anthropic-ratelimit-input-tokens-reset': '2026-03-10T12:00:14Z',
    'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy',
  };
  const body = {
    type: 'error',
    error: {
      type: 'rate_limit_error',
      message:
        'This request would exceed the rate limit for your organization (12345678-aaaa-bbbb-cccc-1234567890ab) of 20,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
    },
  };

  it('is rate_limited with the retry-after wait and no quoted figures', () => {
    const view = parseServerView(headers, NOW, body);
    expect(view.buckets.inputTokens).toEqual({
      limit: 20000,
      remaining: 0,
      resetMs: 14_000,
      remainingStep: 1000,
    });
    expect(view.requestId).toBe('req_011CSHoEeqs5C35K2UUqR7Fy');
    expect(classify(429, view, body)).toEqual({
      outcome: 'rate_limited',
      status: 429,
      type: 'rate_limit_error',
      message: body.error.message,
      waitMs: 14_000,
    });
  });

  it('is transient when overloaded (529) unless x-should-retry says false', () => {
    const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    expect(answer(529, {}, overloaded)).toMatchObject({ outcome: 'transient', type: 'overloaded_error' });
    expect(answer(529, { 'x-should-retry': 'false' }, overloaded).outcome).toBe('fatal');
  });

  it('is quota_exhausted on the structured billing_error (402)', () => {
    const billing = { type: 'error', error: { type: 'billing_error', message: 'Billing error' } };
    expect(answer(402, {}, billing).outcome).toBe('quota_exhausted');
  });

  it('leaves the spend-limit 400 fatal: its only mark is the message', () => {
    const credit = {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
      },
    };
    expect(answer(400, {}, credit)).toMatchObject({ outcome: 'fatal', type: 'invalid_request_error' });
  });
});

describe('classify: Gemini', () => {
  function geminiBody(quotaId: string, retryDelay: string) {
    return {
      error: {
        code: 429,
        message: `You exceeded your current quota, please check your plan and billing details. Quota exceeded for metric: generativelanguage.googleapis.com/generate_requests, limit: 50`,
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId }] },
          { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ url: 'https://ai.google.dev/' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
        ],
      },
    };
  }

  it('is rate_limited with the RetryInfo wait for a per-minute quota', () => {
    const body = geminiBody('GenerateRequestsPerMinutePerProjectPerModel-FreeTier', '34s');
    expect(answer(429, {}, body)).toEqual({
      outcome: 'rate_limited',
      status: 429,
      code: 'RESOURCE_EXHAUSTED',
      message: body.error.message,
      waitMs: 34_000,
    });
  });

  it('is rate_limited and perDay for a PerDay quota id (the scheduler parks, it does not fail)', () => {
    const body = geminiBody('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '34s');
    expect(answer(429, {}, body)).toMatchObject({ outcome: 'rate_limited', perDay: true, waitMs: 34_000 });
  });

  it('reads the array-wrapped body of the OpenAI-compatible endpoint', () => {
    const body = [geminiBody('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '1.5s')];
    expect(answer(429, {}, body)).toMatchObject({ outcome: 'rate_limited', perDay: true, waitMs: 1500 });
  });

  it('is transient on UNAVAILABLE and fatal on INVALID_ARGUMENT', () => {
    const unavailable = { error: { code: 503, message: 'The model is overloaded.', status: 'UNAVAILABLE' } };
    expect(answer(503, {}, unavailable)).toMatchObject({ outcome: 'transient', code: 'UNAVAILABLE' });
    const invalid = { error: { code: 400, message: 'Bad.', status: 'INVALID_ARGUMENT' } };
    expect(answer(400, {}, invalid).outcome).toBe('fatal');
  });
});

describe('classify: statuses', () => {
  it.each([200, 201, 204, 299])('%d is success', (status) => {
    expect(answer(status, { 'x-should-retry': 'false' }, TPM_1146)).toEqual({ outcome: 'success', status });
  });

  it.each([408, 409, 500, 502, 503, 504, 529])('%d is transient', (status) => {
    expect(answer(status).outcome).toBe('transient');
  });

  it.each([400, 401, 403, 404, 413, 418, 422, 451, 302, 600])('%d is fatal', (status) => {
    expect(answer(status).outcome).toBe('fatal');
  });

  it('fills code, type and message from the body of a fatal answer', () => {
    const body = openAiError("The model 'gpt-9' does not exist", 'invalid_request_error', 'model_not_found');
    expect(answer(404, {}, body)).toEqual({
      outcome: 'fatal',
      status: 404,
      code: 'model_not_found',
      type: 'invalid_request_error',
      message: "The model 'gpt-9' does not exist",
    });
  });

  it('carries the server wait on a transient answer (HTTP-date retry-after)', () => {
    expect(answer(503, { 'retry-after': 'Tue, 10 Mar 2026 12:00:05 GMT' })).toEqual({
      outcome: 'transient',
      status: 503,
      waitMs: 5000,
    });
  });

  it('does not put a wait on fatal answers', () => {
    expect(answer(400, { 'retry-after': '5' }).waitMs).toBeUndefined();
  });
});

describe('classify: x-should-retry', () => {
  it('false turns a would-be transient into fatal', () => {
    for (const status of [408, 409, 500, 503]) {
      expect(answer(status, { 'x-should-retry': 'false' }).outcome).toBe('fatal');
    }
  });

  it('true turns an otherwise fatal 4xx into transient', () => {
    for (const status of [400, 403, 404, 422]) {
      expect(answer(status, { 'x-should-retry': 'true', 'retry-after': '1' })).toMatchObject({
        outcome: 'transient',
        waitMs: 1000,
      });
    }
  });

  it('does not override a structured rate limit, slow down or too-large answer', () => {
    expect(answer(429, { 'x-should-retry': 'false' }, TPM_1146).outcome).toBe('rate_limited');
    expect(answer(429, { 'x-should-retry': 'false' }).outcome).toBe('rate_limited');
    const slow = openAiError('Slow down.', 'rate_limit_error', 'slow_down');
    expect(answer(429, { 'x-should-retry': 'false' }, slow).outcome).toBe('slow_down');
  });
});

describe('parseQuoted', () => {
  it('reads thousands separators and falls back to the type for the dimension', () => {
    expect(parseQuoted('Limit 1,500,000, Used 1,499,000, Requested 3,000.', 'tokens')).toEqual({
      dimension: 'tokens',
      period: 'minute',
      limit: 1_500_000,
      used: 1_499_000,
      requested: 3000,
    });
    expect(parseQuoted('on requests per day: Limit 10, Used 10, Requested 1.', 'requests')?.period).toBe(
      'day',
    );
  });

  it('needs a limit, a request and a dimension', () => {
    expect(parseQuoted('Limit 10, Used 10.', 'tokens')).toBeUndefined();
    expect(parseQuoted('Limit 10, Used 10, Requested 1.')).toBeUndefined();
    expect(parseQuoted('on images per min (IPM): Limit 5, Used 5, Requested 1.', 'images')).toBeUndefined();
  });
});

describe('classifyStreamEvent', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('returns undefined for ordinary chunks without parsing them', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const chunks = [
      '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"an \\"error\\" here"},"finish_reason":null}]}',
      '[DONE]',
      '{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"errors"}',
      '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"no errors"}}',
    ];
    for (const chunk of chunks) expect(classifyStreamEvent(chunk)).toBeUndefined();
    expect(parse).not.toHaveBeenCalled();
  });

  it('returns undefined for lifecycle events that carry "error": null, and for unparsable data', () => {
    expect(
      classifyStreamEvent(
        '{"type":"response.completed","response":{"id":"resp_1","status":"completed","error":null,"usage":{"input_tokens":5,"output_tokens":7,"total_tokens":12}}}',
      ),
    ).toBeUndefined();
    expect(classifyStreamEvent('{"choices":[{"delta":{"content":"error"}}]}')).toBeUndefined();
    expect(classifyStreamEvent('{"type":"response.output_text.delta","delta":"error"}')).toBeUndefined();
    expect(classifyStreamEvent('{"error": {')).toBeUndefined();
    expect(classifyStreamEvent('"error"')).toBeUndefined();
  });

  it('reads a quota error inside a 200 stream', () => {
    const data = JSON.stringify(openAiError(QUOTA_MESSAGE, 'insufficient_quota', 'insufficient_quota'));
    expect(classifyStreamEvent(data)).toEqual({
      outcome: 'quota_exhausted',
      status: 200,
      code: 'insufficient_quota',
      type: 'insufficient_quota',
      message: QUOTA_MESSAGE,
    });
    expect(classifyStreamEvent(`data: ${data}`)?.outcome).toBe('quota_exhausted');
  });

  it('reads a rate limit inside a stream, with the wait from its message', () => {
    expect(classifyStreamEvent(JSON.stringify(TPM_1146))).toMatchObject({
      outcome: 'rate_limited',
      status: 200,
      waitMs: 1146,
      quoted: { limit: 50000, used: 47949, requested: 3006 },
    });
  });

  it('reads server_error as transient', () => {
    const data = JSON.stringify(
      openAiError(
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        null,
      ),
    );
    expect(classifyStreamEvent(data)).toMatchObject({ outcome: 'transient', type: 'server_error' });
  });

  it('reads Responses API error events', () => {
    expect(
      classifyStreamEvent(
        '{"type":"error","code":"rate_limit_exceeded","message":"Please try again in 84ms.","param":null,"sequence_number":4}',
      ),
    ).toMatchObject({ outcome: 'rate_limited', code: 'rate_limit_exceeded', waitMs: 84 });
    expect(
      classifyStreamEvent(
        '{"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}',
      ),
    ).toMatchObject({ outcome: 'fatal', code: 'ERR_SOMETHING', status: 200 });
  });

  it('reads response.failed by its error code', () => {
    const failed = (code: string) =>
      JSON.stringify({
        type: 'response.failed',
        sequence_number: 9,
        response: { id: 'resp_1', status: 'failed', error: { code, message: 'x' }, usage: null },
      });
    expect(classifyStreamEvent(failed('server_error'))?.outcome).toBe('transient');
    expect(classifyStreamEvent(failed('rate_limit_exceeded'))?.outcome).toBe('rate_limited');
    expect(classifyStreamEvent(failed('insufficient_quota'))?.outcome).toBe('quota_exhausted');
    expect(classifyStreamEvent(failed('invalid_prompt'))?.outcome).toBe('fatal');
  });

  it("reads Anthropic's event: error payloads", () => {
    expect(
      classifyStreamEvent('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    ).toEqual({ outcome: 'transient', status: 200, type: 'overloaded_error', message: 'Overloaded' });
    expect(
      classifyStreamEvent('{"type":"error","error":{"type":"rate_limit_error","message":"x"}}')?.outcome,
    ).toBe('rate_limited');
    expect(
      classifyStreamEvent('{"type":"error","error":{"type":"invalid_request_error","message":"x"}}')?.outcome,
    ).toBe('fatal');
  });

  it('uses the status Gemini embeds in its error', () => {
    expect(
      classifyStreamEvent('{"error":{"code":503,"message":"Overloaded","status":"UNAVAILABLE"}}')?.outcome,
    ).toBe('transient');
    expect(classifyStreamEvent('{"error":{"code":500,"message":"Internal"}}')?.outcome).toBe('transient');
    expect(
      classifyStreamEvent('{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}')?.outcome,
    ).toBe('rate_limited');
  });

  it('never throws on arbitrary data', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.jsonValue().map((v) => JSON.stringify({ error: v })),
        ),
        (data) => {
          classifyStreamEvent(data);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('classify: properties', () => {
  it('never throws, and 2xx is always success', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), fc.oneof(fc.jsonValue(), fc.string()), (status, body) => {
        const result = classify(status, { buckets: {} }, body);
        expect(result.status).toBe(status);
        if (status >= 200 && status < 300) expect(result.outcome).toBe('success');
      }),
      { numRuns: 1000 },
    );
  });
});
