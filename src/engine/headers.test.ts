import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseServerView, readProviderError, retryAfterFromError } from './headers.js';

const NOW = Date.parse('2026-03-10T12:00:00Z');

/** OpenAI's 429 body for the TPM example in docs/rate-limits.md. */
const OPENAI_TPM_BODY = {
  error: {
    message:
      'Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s. Visit https://platform.openai.com/account/rate-limits to learn more.',
    type: 'tokens',
    param: null,
    code: 'rate_limit_exceeded',
  },
};

const AZURE_BODY = {
  error: {
    code: '429',
    message:
      'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
  },
};

function geminiBody(retryDelay: unknown, quotaId = 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier') {
  return {
    error: {
      code: 429,
      message: 'You exceeded your current quota, please check your plan and billing details.',
      status: 'RESOURCE_EXHAUSTED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_requests', quotaId }],
        },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
      ],
    },
  };
}

function openAiMessageBody(message: string) {
  return { error: { message, type: 'tokens', param: null, code: 'rate_limit_exceeded' } };
}

describe('parseServerView: OpenAI headers', () => {
  it('reads the example headers of docs/rate-limits.md', () => {
    const view = parseServerView(
      {
        'x-ratelimit-limit-requests': '5000',
        'x-ratelimit-limit-tokens': '160000',
        'x-ratelimit-remaining-requests': '4999',
        'x-ratelimit-remaining-tokens': '159976',
        'x-ratelimit-reset-requests': '12ms',
        'x-ratelimit-reset-tokens': '9ms',
      },
      NOW,
    );
    expect(view).toEqual({
      buckets: {
        requests: { limit: 5000, remaining: 4999, resetMs: 12 },
        tokens: { limit: 160000, remaining: 159976, resetMs: 9 },
      },
    });
  });

  it.each([
    ['12ms', 12],
    ['1s', 1000],
    ['8.64s', 8640],
    ['6m0s', 360_000],
    ['4m12.172s', 252_172],
    ['23h18m29.144s', 83_909_144],
    ['0s', 0],
  ])('reads the Go-duration reset %s as %d ms', (reset, ms) => {
    const view = parseServerView({ 'x-ratelimit-reset-tokens': reset }, NOW);
    expect(view.buckets.tokens).toEqual({ resetMs: ms });
  });

  it('reports the binding per-day bucket the way the server does (1,500,000 TPD, reset 4m12.172s)', () => {
    const view = parseServerView(
      {
        'x-ratelimit-limit-tokens': '1500000',
        'x-ratelimit-remaining-tokens': '1497000',
        'x-ratelimit-reset-tokens': '4m12.172s',
      },
      NOW,
    );
    expect(view.buckets.tokens).toEqual({ limit: 1_500_000, remaining: 1_497_000, resetMs: 252_172 });
  });

  it('leaves out buckets the answer says nothing about', () => {
    expect(parseServerView({}, NOW)).toEqual({ buckets: {} });
    expect(parseServerView({ 'x-ratelimit-limit-requests': '60' }, NOW).buckets).toEqual({
      requests: { limit: 60 },
    });
  });

  it('ignores unreadable figures instead of failing', () => {
    const view = parseServerView(
      {
        'x-ratelimit-limit-requests': 'lots',
        'x-ratelimit-remaining-requests': '',
        'x-ratelimit-reset-requests': 'soon',
        'x-ratelimit-limit-tokens': '1e6',
        'x-ratelimit-remaining-tokens': '0x10',
        'x-ratelimit-reset-tokens': '-1s',
      },
      NOW,
    );
    expect(view.buckets).toEqual({});
  });
});

describe('parseServerView: Azure headers', () => {
  it('reads integer-second resets and treats -1 as "not said"', () => {
    const view = parseServerView(
      {
        'x-ratelimit-limit-requests': '-1',
        'x-ratelimit-remaining-requests': '-1',
        'x-ratelimit-reset-requests': '6',
        'x-ratelimit-limit-tokens': '-1',
        'x-ratelimit-remaining-tokens': '79984',
        'x-ratelimit-reset-tokens': '60',
        'retry-after': '6',
        'apim-request-id': 'b2f0c8c6-7e2d-4b1a-9a53-0f3e8d1c2a11',
      },
      NOW,
      AZURE_BODY,
    );
    expect(view).toEqual({
      buckets: {
        requests: { resetMs: 6000 },
        tokens: { remaining: 79984, resetMs: 60_000 },
      },
      retryAfterMs: 6000,
      requestId: 'b2f0c8c6-7e2d-4b1a-9a53-0f3e8d1c2a11',
    });
  });

  it('drops a bucket whose every figure is -1', () => {
    const view = parseServerView(
      { 'x-ratelimit-limit-requests': '-1', 'x-ratelimit-remaining-requests': '-1' },
      NOW,
    );
    expect(view.buckets).toEqual({});
  });

  it('reads "Please retry after 6 seconds" from the body when no header says it', () => {
    expect(parseServerView({}, NOW, AZURE_BODY).retryAfterMs).toBe(6000);
  });

  it('reads the singular "Please retry after 1 second."', () => {
    const body = {
      error: { code: '429', message: 'Exceeded token rate limit. Please retry after 1 second.' },
    };
    expect(parseServerView({}, NOW, body).retryAfterMs).toBe(1000);
  });

  it('honours retry-after-ms when Azure sends it', () => {
    expect(
      parseServerView({ 'retry-after-ms': '5500', 'retry-after': '6' }, NOW, AZURE_BODY).retryAfterMs,
    ).toBe(5500);
  });

  it('reads an APIM-style body ("Try again in 59 seconds.")', () => {
    const body = { statusCode: 429, message: 'Rate limit is exceeded. Try again in 59 seconds.' };
    expect(parseServerView({}, NOW, body).retryAfterMs).toBe(59_000);
  });
});

describe('parseServerView: Anthropic headers', () => {
  const headers = {
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': '49',
    'anthropic-ratelimit-requests-reset': '2026-03-10T12:00:01Z',
    'anthropic-ratelimit-tokens-limit': '100000',
    'anthropic-ratelimit-tokens-remaining': '96000',
    'anthropic-ratelimit-tokens-reset': '2026-03-10T12:00:02.400Z',
    'anthropic-ratelimit-input-tokens-limit': '80000',
    'anthropic-ratelimit-input-tokens-remaining': '78000',
    'anthropic-ratelimit-input-tokens-reset': '2026-03-10T13:00:30+01:00',
    'anthropic-ratelimit-output-tokens-limit': '16000',
    'anthropic-ratelimit-output-tokens-remaining': '16000',
    'anthropic-ratelimit-output-tokens-reset': '2026-03-10T11:59:00Z',
    'request-id': 'req_018EeWyXxfu5pfWkrYcMdjWG',
  };

  it('maps the four buckets and turns RFC 3339 resets into ms from now (never negative)', () => {
    expect(parseServerView(headers, NOW)).toEqual({
      buckets: {
        requests: { limit: 50, remaining: 49, resetMs: 1000 },
        tokens: { limit: 100_000, remaining: 96_000, resetMs: 2400, remainingStep: 1000 },
        inputTokens: { limit: 80_000, remaining: 78_000, resetMs: 30_000, remainingStep: 1000 },
        outputTokens: { limit: 16_000, remaining: 16_000, resetMs: 0, remainingStep: 1000 },
      },
      requestId: 'req_018EeWyXxfu5pfWkrYcMdjWG',
    });
  });

  it('reads fractional seconds beyond milliseconds and lower-case separators', () => {
    const view = parseServerView(
      {
        'anthropic-ratelimit-tokens-reset': '2026-03-10T12:00:05.123456789Z',
        'anthropic-ratelimit-requests-reset': '2026-03-10t12:00:05z',
      },
      NOW,
    );
    expect(view.buckets.tokens?.resetMs).toBe(5123);
    expect(view.buckets.requests?.resetMs).toBe(5000);
  });

  it('ignores a reset that is not an RFC 3339 time', () => {
    const view = parseServerView(
      { 'anthropic-ratelimit-tokens-reset': '30', 'anthropic-ratelimit-requests-reset': 'Tuesday' },
      NOW,
    );
    expect(view.buckets).toEqual({});
  });

  it('reads its 429: retry-after, x-should-retry and the request id', () => {
    const view = parseServerView({ ...headers, 'retry-after': '14', 'x-should-retry': 'true' }, NOW, {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message:
          'This request would exceed the rate limit for your organization (12345678-aaaa-bbbb-cccc-1234567890ab) of 20,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
      },
    });
    expect(view.retryAfterMs).toBe(14_000);
    expect(view.shouldRetry).toBe(true);
  });
});

describe('parseServerView: retryAfterMs', () => {
  it('reads retry-after-ms as float milliseconds', () => {
    expect(parseServerView({ 'retry-after-ms': '1234.5' }, NOW).retryAfterMs).toBe(1234.5);
  });

  it.each([
    ['6', 6000],
    ['0', 0],
    ['0.5', 500],
    [' 20 ', 20_000],
  ])('reads retry-after %j as %d ms', (value, ms) => {
    expect(parseServerView({ 'retry-after': value }, NOW).retryAfterMs).toBe(ms);
  });

  it('reads an HTTP-date retry-after as the time from now, and a past date as 0', () => {
    expect(parseServerView({ 'retry-after': 'Tue, 10 Mar 2026 12:00:30 GMT' }, NOW).retryAfterMs).toBe(
      30_000,
    );
    expect(parseServerView({ 'retry-after': 'Tue, 10 Mar 2026 11:00:00 GMT' }, NOW).retryAfterMs).toBe(0);
  });

  it.each(['soon', '-3', '', 'NaN', 'Infinity', '1e3', '9'.repeat(400)])(
    'ignores retry-after %j',
    (value) => {
      expect(parseServerView({ 'retry-after': value }, NOW).retryAfterMs).toBeUndefined();
    },
  );

  it('ignores garbage retry-after-ms and falls through to retry-after', () => {
    expect(parseServerView({ 'retry-after-ms': 'later', 'retry-after': '2' }, NOW).retryAfterMs).toBe(2000);
    expect(parseServerView({ 'retry-after-ms': '-5', 'retry-after': '2' }, NOW).retryAfterMs).toBe(2000);
  });

  it.each([
    [
      'Please try again in 1.146s. Visit https://platform.openai.com/account/rate-limits to learn more.',
      1146,
    ],
    ['Limit 10000, Used 8782, Requested 8172. Please try again in 41.724s. Visit …', 41_724],
    ['Limit 200000, Used 195869, Requested 4412. Please try again in 84ms. Visit …', 84],
    ['Limit 3, Used 3, Requested 1. Please try again in 20s. Visit …', 20_000],
    ['Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit …', 432_000],
    ['Please try again in 6m0s.', 360_000],
    ['Please try again in 23h18m29.144s.', 83_909_144],
    ['Quota exceeded. Please retry in 33.864347847s.', 33_864.347847],
  ])('reads the wait in %j', (message, ms) => {
    expect(parseServerView({}, NOW, openAiMessageBody(message)).retryAfterMs).toBeCloseTo(ms, 6);
  });

  it('ignores message text that is not a wait', () => {
    for (const message of [
      'Please try again later.',
      'try again in 20x',
      'try again in a moment',
      'retry after 6 parsecs',
    ]) {
      expect(parseServerView({}, NOW, openAiMessageBody(message)).retryAfterMs).toBeUndefined();
    }
  });

  it('prefers the message (ms precision) over retry-after (whole seconds)', () => {
    expect(parseServerView({ 'retry-after': '2' }, NOW, OPENAI_TPM_BODY).retryAfterMs).toBe(1146);
  });

  it('prefers retry-after-ms over the message', () => {
    expect(
      parseServerView({ 'retry-after-ms': '1150', 'retry-after': '2' }, NOW, OPENAI_TPM_BODY).retryAfterMs,
    ).toBe(1150);
  });

  it('prefers retry-after over the seconds-only Azure message', () => {
    expect(parseServerView({ 'retry-after': '7' }, NOW, AZURE_BODY).retryAfterMs).toBe(7000);
  });

  it.each([
    ['34s', 34_000],
    ['1.5s', 1500],
    ['0s', 0],
    [{ seconds: '12', nanos: 500_000_000 }, 12_500],
  ])('reads Gemini RetryInfo retryDelay %j', (delay, ms) => {
    expect(parseServerView({}, NOW, geminiBody(delay)).retryAfterMs).toBe(ms);
  });

  it('ignores an unreadable retryDelay and a retryDelay on another detail type', () => {
    expect(parseServerView({}, NOW, geminiBody('soon')).retryAfterMs).toBeUndefined();
    expect(parseServerView({}, NOW, geminiBody('-3s')).retryAfterMs).toBeUndefined();
    const body = {
      error: { code: 429, details: [{ '@type': 'type.googleapis.com/x.Other', retryDelay: '5s' }] },
    };
    expect(parseServerView({}, NOW, body).retryAfterMs).toBeUndefined();
  });

  it('ranks retry-after above retryDelay', () => {
    expect(parseServerView({ 'retry-after': '30' }, NOW, geminiBody('34s')).retryAfterMs).toBe(30_000);
  });

  it("reads the Gemini OpenAI-compatible endpoint's array-wrapped body", () => {
    expect(parseServerView({}, NOW, [geminiBody('34s')]).retryAfterMs).toBe(34_000);
  });

  it('parses a JSON string body and ignores one that is not JSON', () => {
    expect(parseServerView({}, NOW, JSON.stringify(OPENAI_TPM_BODY)).retryAfterMs).toBe(1146);
    expect(parseServerView({}, NOW, '  \n' + JSON.stringify(OPENAI_TPM_BODY)).retryAfterMs).toBe(1146);
    expect(parseServerView({}, NOW, '<html>Too Many Requests</html>').retryAfterMs).toBeUndefined();
    expect(parseServerView({}, NOW, '{"error": {').retryAfterMs).toBeUndefined();
    expect(parseServerView({}, NOW, 42).retryAfterMs).toBeUndefined();
    expect(parseServerView({}, NOW, null).retryAfterMs).toBeUndefined();
  });
});

describe('parseServerView: other headers and header bags', () => {
  it.each([
    ['true', true],
    ['false', false],
    [' TRUE ', true],
  ])('reads x-should-retry %j', (value, expected) => {
    expect(parseServerView({ 'x-should-retry': value }, NOW).shouldRetry).toBe(expected);
  });

  it('ignores an x-should-retry that is neither true nor false', () => {
    expect(parseServerView({ 'x-should-retry': 'maybe' }, NOW)).toEqual({ buckets: {} });
  });

  it.each(['x-request-id', 'request-id', 'apim-request-id'])('reads the request id from %s', (name) => {
    expect(parseServerView({ [name]: 'req_123' }, NOW).requestId).toBe('req_123');
  });

  it('reads a fetch Headers object', () => {
    const headers = new Headers({
      'X-RateLimit-Limit-Tokens': '160000',
      'X-RateLimit-Reset-Tokens': '8.64s',
      'Retry-After': '1',
      'X-Request-Id': 'req_abc',
    });
    expect(parseServerView(headers, NOW)).toEqual({
      buckets: { tokens: { limit: 160_000, resetMs: 8640 } },
      retryAfterMs: 1000,
      requestId: 'req_abc',
    });
  });

  it('matches record keys case-insensitively and takes the first of repeated values', () => {
    const view = parseServerView(
      { 'Retry-After': ['3', '4'], 'X-RateLimit-Remaining-Requests': '7', 'x-should-retry': undefined },
      NOW,
    );
    expect(view).toEqual({ buckets: { requests: { remaining: 7 } }, retryAfterMs: 3000 });
  });

  it('reads a record said to be lower-cased as it is, without looking for other names', () => {
    const headers = { 'retry-after': '2', 'X-RateLimit-Remaining-Requests': '7' };
    expect(parseServerView(headers, NOW, undefined, { lowerCase: true })).toEqual({
      buckets: {},
      retryAfterMs: 2000,
    });
  });

  it('does not read inherited properties of a record', () => {
    const record = Object.create({ 'retry-after': '5' }) as Record<string, string>;
    expect(parseServerView(record, NOW).retryAfterMs).toBeUndefined();
  });
});

describe('readProviderError', () => {
  it('normalises every provider shape', () => {
    expect(readProviderError(OPENAI_TPM_BODY)).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded' });
    expect(readProviderError(AZURE_BODY)).toMatchObject({ code: '429' });
    expect(readProviderError(geminiBody('34s'))).toMatchObject({
      numericCode: 429,
      status: 'RESOURCE_EXHAUSTED',
    });
    expect(
      readProviderError({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ).toEqual({
      type: 'overloaded_error',
      message: 'Overloaded',
    });
    expect(
      readProviderError({ type: 'error', code: 'server_error', message: 'boom', sequence_number: 3 }),
    ).toEqual({
      code: 'server_error',
      message: 'boom',
    });
    expect(
      readProviderError({
        type: 'response.failed',
        response: { error: { code: 'server_error', message: 'x' } },
      }),
    ).toEqual({ code: 'server_error', message: 'x' });
    expect(readProviderError({ error: 'Bad gateway' })).toEqual({ message: 'Bad gateway' });
    expect(readProviderError({ error: { message: 'old', type: 'insufficient_quota', code: null } })).toEqual({
      message: 'old',
      type: 'insufficient_quota',
    });
  });

  it('returns undefined for bodies without an error', () => {
    for (const body of [undefined, null, 3, 'text', {}, { id: 'chatcmpl-1' }, { error: null }, [], [1]]) {
      expect(readProviderError(body)).toBeUndefined();
    }
  });

  it('exposes body-only waits for answers without headers', () => {
    expect(retryAfterFromError(readProviderError(OPENAI_TPM_BODY))).toBe(1146);
    expect(retryAfterFromError(readProviderError(AZURE_BODY))).toBe(6000);
    expect(retryAfterFromError(readProviderError(geminiBody('34s')))).toBe(34_000);
    expect(retryAfterFromError(undefined)).toBeUndefined();
  });
});

describe('parseServerView: properties', () => {
  const headerNames = [
    'retry-after',
    'retry-after-ms',
    'x-should-retry',
    'x-request-id',
    ...['limit', 'remaining', 'reset'].flatMap((f) => [
      `x-ratelimit-${f}-requests`,
      `x-ratelimit-${f}-tokens`,
    ]),
    ...['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((d) =>
      ['limit', 'remaining', 'reset'].map((f) => `anthropic-ratelimit-${d}-${f}`),
    ),
  ];
  const name = fc.oneof(fc.constantFrom(...headerNames), fc.string());
  const value = fc.oneof(
    fc.string(),
    fc.constantFrom('-1', '12ms', '6m0s', '1e309', 'Tue, 10 Mar 2026 12:00:30 GMT', '2026-03-10T12:00:01Z'),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.constant(undefined),
  );
  const headers = fc.dictionary(name, value, { maxKeys: 12 });
  const body = fc.oneof(
    fc.constant(undefined),
    fc.string(),
    fc.jsonValue(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string().map((message) => ({ error: { message, details: [{ '@type': 'x', retryDelay: message }] } })),
  );

  it('never throws, and every figure is finite and non-negative', () => {
    fc.assert(
      fc.property(headers, fc.integer({ min: 0, max: 4_102_444_800_000 }), body, (h, now, b) => {
        const view = parseServerView(h, now, b);
        const figures = Object.values(view.buckets).flatMap((bucket) => Object.values(bucket));
        if (view.retryAfterMs !== undefined) figures.push(view.retryAfterMs);
        for (const figure of figures) {
          expect(Number.isFinite(figure)).toBe(true);
          expect(figure).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
