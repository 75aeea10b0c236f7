/**
 * Every number the emulator answers, checked against the formulas of docs/rate-limits.md over real HTTP,
 * with a frozen clock so the figures are exact.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { formatGoDuration } from '../src/formats/duration.js';
import type { OpenAIErrorBody } from '../src/formats/openai-errors.js';
import { startMock, type MockOptions, type MockServer } from '../src/mock/index.js';

let now = 0;
const clock = { now: () => now };
let mock: MockServer | undefined;

afterEach(async () => {
  await mock?.close();
  mock = undefined;
  now = 0;
});

async function start(options: MockOptions): Promise<MockServer> {
  mock = await startMock({ clock, rpm: 0, tpm: 0, ...options });
  return mock;
}

/** An error body, or a success body of which the tests read `usage`. */
type AnswerBody = OpenAIErrorBody & { usage: { total_tokens: number } };

interface Answer {
  status: number;
  headers: Headers;
  body: AnswerBody;
}

async function post(path: string, body: unknown, key = 'sk-test'): Promise<Answer> {
  const res = await fetch(`${mock!.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as AnswerBody };
}

/** A chat request costing exactly `tokens`: 4 × (tokens − 1) prompt characters + max_tokens 1. */
function chatCosting(tokens: number, model = 'gpt-4o-mini') {
  return { model, messages: [{ role: 'user', content: 'a'.repeat(4 * (tokens - 1)) }], max_tokens: 1 };
}

const tiny = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 };

function rateLimitMessage(
  limitName: string,
  limit: number,
  used: number,
  requested: number,
  wait: string,
): string {
  return (
    `Rate limit reached for gpt-4o-mini in organization org-mock on ${limitName}: Limit ${limit}, Used ${used}, ` +
    `Requested ${requested}. Please try again in ${wait}. Visit https://platform.openai.com/account/rate-limits to learn more.`
  );
}

describe('the six real OpenAI examples, reproduced from their figures', () => {
  it.each([
    [50_000, 47_949, 3006, '1.146s', '2', '1146'],
    [10_000, 8782, 8172, '41.724s', '42', '41724'],
    [200_000, 195_869, 4412, '84ms', '1', '85'],
  ])('TPM %d, used %d, requested %d → "%s"', async (tpm, used, requested, wait, retryAfter, retryAfterMs) => {
    await start({ tpm });
    expect((await post('/chat/completions', chatCosting(used))).status).toBe(200);
    const refused = await post('/chat/completions', chatCosting(requested));
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: {
        message: rateLimitMessage('tokens per min (TPM)', tpm, used, requested, wait),
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(refused.headers.get('retry-after')).toBe(retryAfter);
    expect(refused.headers.get('retry-after-ms')).toBe(retryAfterMs);
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe(String(tpm));
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe(String(tpm - used));
  });

  it('RPM 3, used 3, requested 1 → "20s"', async () => {
    await start({ rpm: 3 });
    for (let i = 0; i < 3; i++) expect((await post('/chat/completions', tiny)).status).toBe(200);
    const refused = await post('/chat/completions', tiny);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toEqual({
      message: rateLimitMessage('requests per min (RPM)', 3, 3, 1, '20s'),
      type: 'requests',
      param: null,
      code: 'rate_limit_exceeded',
    });
    expect(refused.headers.get('retry-after')).toBe('20');
    expect(refused.headers.get('retry-after-ms')).toBe('20000');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
  });

  it('RPD 200, used 200, requested 1 → "7m12s"', async () => {
    await start({ rpd: 200 });
    const answers = await Promise.all(Array.from({ length: 200 }, () => post('/chat/completions', tiny)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const refused = await post('/chat/completions', tiny);
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toBe(rateLimitMessage('requests per day (RPD)', 200, 200, 1, '7m12s'));
    expect(refused.body.error.type).toBe('requests');
    expect(refused.headers.get('retry-after')).toBe('432');
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('200');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toBe('24h0m0s');
  });

  it('5000 RPM with 1 used → reset header "12ms"', async () => {
    await start({ rpm: 5000, tpm: 160_000 });
    const ok = await post('/chat/completions', chatCosting(24));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('5000');
    expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('4999');
    expect(ok.headers.get('x-ratelimit-reset-requests')).toBe('12ms');
    expect(ok.headers.get('x-ratelimit-limit-tokens')).toBe('160000');
    expect(ok.headers.get('x-ratelimit-remaining-tokens')).toBe('159976');
    expect(ok.headers.get('x-ratelimit-reset-tokens')).toBe('9ms');
  });
});

describe('admission', () => {
  it('puts x-ratelimit-*, x-request-id and openai-processing-ms on every admitted answer', async () => {
    await start({ rpm: 60, tpm: 1000 });
    for (const [path, body] of [
      ['/chat/completions', tiny],
      ['/completions', { model: 'gpt-4o-mini', prompt: 'hi' }],
      ['/embeddings', { model: 'gpt-4o-mini', input: 'hi' }],
      ['/responses', { model: 'gpt-4o-mini', input: 'hi' }],
    ] as const) {
      const ok = await post(path, body);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(ok.headers.get('openai-processing-ms')).toBe('0');
      for (const name of ['limit', 'remaining', 'reset']) {
        expect(ok.headers.get(`x-ratelimit-${name}-requests`)).not.toBeNull();
        expect(ok.headers.get(`x-ratelimit-${name}-tokens`)).not.toBeNull();
      }
    }
  });

  it('charges ceil(prompt chars / 4) + n × max (16 when absent) per endpoint', async () => {
    await start({ tpm: 100_000 });
    const remaining = async (path: string, body: unknown) =>
      Number((await post(path, body)).headers.get('x-ratelimit-remaining-tokens'));
    let left = 100_000;
    const expectCost = async (path: string, body: unknown, cost: number) => {
      left -= cost;
      expect(await remaining(path, body)).toBe(left);
    };
    // 9 chars → 3 tokens, + 2 × 10.
    await expectCost(
      '/chat/completions',
      { model: 'm', messages: [{ role: 'user', content: 'abcdefghi' }], n: 2, max_tokens: 10 },
      23,
    );
    // Parts count their text: 5 chars → 2 tokens, + max_completion_tokens 7.
    await expectCost(
      '/chat/completions',
      {
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'abcde' }] }],
        max_completion_tokens: 7,
        max_tokens: 99,
      },
      9,
    );
    // No max: 16.
    await expectCost('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'abcd' }] }, 17);
    await expectCost('/completions', { model: 'm', prompt: ['abc', 'defgh'], max_tokens: 3 }, 5);
    await expectCost('/embeddings', { model: 'm', input: ['abcd', 'efgh', 'i'] }, 3);
    await expectCost(
      '/responses',
      { model: 'm', instructions: 'abcd', input: 'efgh', max_output_tokens: 5 },
      7,
    );
  });

  it('refills continuously: admitted again once the quoted wait has passed', async () => {
    await start({ rpm: 3 });
    for (let i = 0; i < 3; i++) await post('/chat/completions', tiny);
    now = 19_999;
    expect((await post('/chat/completions', tiny)).body.error.message).toContain('Please try again in 1ms.');
    now = 20_000;
    const ok = await post('/chat/completions', tiny);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(ok.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
  });

  it('honours --burst-seconds: 60 RPM with a 1 s burst admits one request per second', async () => {
    await start({ rpm: 60, burstSeconds: 1 });
    expect((await post('/chat/completions', tiny)).status).toBe(200);
    const refused = await post('/chat/completions', tiny);
    expect(refused.status).toBe(429);
    expect(refused.body.error.message).toContain('Limit 60, Used 1, Requested 1. Please try again in 1s.');
    now = 1000;
    expect((await post('/chat/completions', tiny)).status).toBe(200);
  });

  it('keeps lanes per API key and model', async () => {
    await start({ rpm: 1 });
    expect((await post('/chat/completions', tiny, 'a')).status).toBe(200);
    expect((await post('/chat/completions', tiny, 'a')).status).toBe(429);
    expect((await post('/chat/completions', tiny, 'b')).status).toBe(200);
    expect((await post('/chat/completions', { ...tiny, model: 'gpt-4o' }, 'a')).status).toBe(200);
  });

  it('describes the binding bucket, which may be the per-day one', async () => {
    await start({ tpm: 30_000, tpd: 20_000 });
    const ok = await post('/chat/completions', chatCosting(15_000));
    expect(ok.headers.get('x-ratelimit-limit-tokens')).toBe('20000');
    expect(ok.headers.get('x-ratelimit-remaining-tokens')).toBe('5000');
    expect(ok.headers.get('x-ratelimit-reset-tokens')).toBe('18h0m0s');
    const refused = await post('/chat/completions', chatCosting(6000));
    expect(refused.body.error.message).toBe(
      rateLimitMessage('tokens per day (TPD)', 20_000, 15_000, 6000, '1h12m0s'),
    );
  });
});

describe('refusals that retrying cannot fix', () => {
  it('answers "Request too large" without retry headers', async () => {
    await start({ tpm: 30_000 });
    const refused = await post('/chat/completions', chatCosting(87_968));
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      error: {
        message:
          'Request too large for gpt-4o-mini in organization org-mock on tokens per min (TPM): Limit 30000, Requested 87968. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.',
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(refused.headers.get('retry-after-ms')).toBeNull();
    expect(mock!.stats().rejected).toMatchObject({ total: 1, tooLarge: 1 });
  });

  it('compares against capacity, so a short burst makes smaller requests too large', async () => {
    await start({ tpm: 6000, burstSeconds: 1 });
    expect((await post('/chat/completions', chatCosting(100))).status).toBe(200);
    now = 60_000;
    const refused = await post('/chat/completions', chatCosting(101));
    expect(refused.body.error.message).toContain('Request too large');
    expect(refused.body.error.message).toContain('Limit 6000, Requested 101.');
  });

  it('answers insufficient_quota once the key has used its quota, then always', async () => {
    await start({ quotaRequests: 2 });
    expect((await post('/chat/completions', tiny)).status).toBe(200);
    expect((await post('/chat/completions', tiny)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      now += 3_600_000;
      const refused = await post('/chat/completions', tiny);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: {
          message:
            'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      });
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(refused.headers.get('retry-after-ms')).toBeNull();
    }
    expect((await post('/chat/completions', tiny, 'other-key')).status).toBe(200);
    mock!.reset();
    expect((await post('/chat/completions', tiny)).status).toBe(200);
  });

  it('counts --quota-tokens in used tokens (prompt + completion), refusing once they reach it', async () => {
    await start({ quotaTokens: 30 });
    let used = 0;
    while (used < 30) {
      const ok = await post('/chat/completions', {
        ...tiny,
        max_tokens: 8,
        messages: [{ role: 'user', content: `q${used}` }],
      });
      expect(ok.status).toBe(200);
      used += ok.body.usage.total_tokens as number;
    }
    const refused = await post('/chat/completions', tiny);
    expect(refused.body.error.code).toBe('insufficient_quota');
    expect(mock!.stats()).toMatchObject({ rejected: { quota: 1 }, tokens: { charged: expect.any(Number) } });
    expect(mock!.stats().tokens.prompt + mock!.stats().tokens.completion).toBe(used);
  });
});

describe('options', () => {
  it('slow_down: refuses a sudden ramp with code slow_down and a wait to the next second', async () => {
    await start({ slowDownFactor: 2, slowDownMin: 2 });
    now = 10_400;
    expect((await post('/chat/completions', tiny)).status).toBe(200);
    expect((await post('/chat/completions', tiny)).status).toBe(200);
    const refused = await post('/chat/completions', tiny);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'slow_down', type: 'rate_limit_error', param: null });
    expect(refused.headers.get('retry-after-ms')).toBe('600');
    expect(refused.headers.get('retry-after')).toBe('1');
    now = 11_000;
    for (let i = 0; i < 4; i++) expect((await post('/chat/completions', tiny)).status).toBe(200);
    expect((await post('/chat/completions', tiny)).status).toBe(429);
    expect(mock!.stats().rejected.slowDown).toBe(2);
  });

  it('--no-retry-after and --no-retry-after-ms switch the headers off', async () => {
    await start({ rpm: 1, retryAfter: false });
    await post('/chat/completions', tiny);
    let refused = await post('/chat/completions', tiny);
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(refused.headers.get('retry-after-ms')).toBe('60000');
    await mock!.close();
    await start({ rpm: 1, retryAfterMs: false });
    await post('/chat/completions', tiny);
    refused = await post('/chat/completions', tiny);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.headers.get('retry-after-ms')).toBeNull();
  });

  it('--count-rejected charges refused requests to the request buckets', async () => {
    await start({ rpm: 2, countRejected: true });
    await post('/chat/completions', tiny);
    await post('/chat/completions', tiny);
    expect((await post('/chat/completions', tiny)).body.error.message).toContain(
      'Used 2, Requested 1. Please try again in 30s.',
    );
    expect((await post('/chat/completions', tiny)).body.error.message).toContain(
      'Used 3, Requested 1. Please try again in 1m0s.',
    );
  });

  it('--settle usage corrects the token charge to prompt + completion tokens after the answer', async () => {
    await start({ tpm: 10_000, settle: 'usage' });
    const first = await post('/chat/completions', chatCosting(1000));
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('9000');
    const second = await post('/chat/completions', chatCosting(1000));
    const settled = 10_000 - first.body.usage.total_tokens - 1000;
    expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe(String(settled));
  });

  it('without --settle, the admission charge stands', async () => {
    await start({ tpm: 10_000 });
    await post('/chat/completions', chatCosting(1000));
    expect(
      (await post('/chat/completions', chatCosting(1000))).headers.get('x-ratelimit-remaining-tokens'),
    ).toBe('8000');
  });
});

describe('stats', () => {
  it('counts received, admitted, refusals by kind, tokens and per-second admissions', async () => {
    await start({ rpm: 2, tpm: 100 });
    now = 5_000_500;
    await post('/chat/completions', chatCosting(30));
    await post('/chat/completions', chatCosting(80));
    now = 5_001_200;
    await post('/chat/completions', chatCosting(20));
    await post('/chat/completions', chatCosting(20));
    await post('/chat/completions', { model: 'm' });
    const viaHttp = await (await fetch(`${mock!.origin}/__mock/stats`)).json();
    const stats = mock!.stats();
    expect(viaHttp).toEqual(stats);
    expect(stats).toMatchObject({
      received: 5,
      admitted: 2,
      rejected: { total: 2, rpm: 1, tpm: 1 },
      errors: { badRequest: 1 },
      tokens: { charged: 50 },
      perSecond: [
        { second: 5000, requests: 1, tokens: 30 },
        { second: 5001, requests: 1, tokens: 20 },
      ],
      concurrency: { current: 0 },
    });
    expect(stats.concurrency.max).toBeGreaterThanOrEqual(1);
    expect(stats.tokens).toEqual({ charged: 50, prompt: 48, completion: 2 });

    const reset = await fetch(`${mock!.origin}/__mock/reset`, { method: 'POST' });
    expect(reset.status).toBe(200);
    expect(mock!.stats()).toMatchObject({ received: 0, admitted: 0, perSecond: [] });
    expect((await post('/chat/completions', chatCosting(80))).status).toBe(200);
  });
});

/**
 * An independent model of one lane with an RPM and a TPM bucket, written from docs/rate-limits.md's
 * formulas, against which every figure of every answer is checked.
 */
class ReferenceBucket {
  level = 0;
  at = 0;
  constructor(
    readonly limit: number,
    readonly capacity: number,
  ) {}
  levelAt(t: number): number {
    return Math.max(0, this.level - ((t - this.at) * this.limit) / 60_000);
  }
}

describe('request sequences against the formulas', () => {
  it('every status, header and message figure matches an independent model', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rpm: fc.integer({ min: 1, max: 30 }),
          tpm: fc.integer({ min: 200, max: 5000 }),
          burstSeconds: fc.constantFrom(2, 10, 60),
          steps: fc.array(
            fc.record({
              dt: fc.integer({ min: 0, max: 4000 }),
              chars: fc.integer({ min: 0, max: 400 }),
              maxTokens: fc.integer({ min: 1, max: 200 }),
            }),
            { minLength: 1, maxLength: 14 },
          ),
        }),
        async ({ rpm, tpm, burstSeconds, steps }) => {
          if ((rpm * burstSeconds) / 60 < 1) return;
          now = 1_000_000;
          await start({ rpm, tpm, burstSeconds });
          const buckets = {
            requests: new ReferenceBucket(rpm, (rpm * burstSeconds) / 60),
            tokens: new ReferenceBucket(tpm, (tpm * burstSeconds) / 60),
          };
          try {
            for (const step of steps) {
              now += step.dt;
              const cost = { requests: 1, tokens: Math.ceil(step.chars / 4) + step.maxTokens };
              const answer = await post('/chat/completions', {
                model: 'gpt-4o-mini',
                messages: [{ role: 'user', content: 'a'.repeat(step.chars) }],
                max_tokens: step.maxTokens,
              });
              const levels = { requests: buckets.requests.levelAt(now), tokens: buckets.tokens.levelAt(now) };
              const expectHeaders = (dimension: 'requests' | 'tokens', level: number) => {
                const b = buckets[dimension];
                expect(answer.headers.get(`x-ratelimit-limit-${dimension}`)).toBe(String(b.limit));
                expect(answer.headers.get(`x-ratelimit-remaining-${dimension}`)).toBe(
                  String(Math.max(0, Math.floor(b.capacity - level + 1e-6))),
                );
                expect(answer.headers.get(`x-ratelimit-reset-${dimension}`)).toBe(
                  formatGoDuration((level * 60_000) / b.limit),
                );
              };

              if (cost.tokens > buckets.tokens.capacity) {
                expect(answer.status).toBe(429);
                expect(answer.body.error.message).toMatch(/^Request too large for gpt-4o-mini/);
                expect(answer.body.error.message).toContain(`Limit ${tpm}, Requested ${cost.tokens}.`);
                expect(answer.headers.get('retry-after')).toBeNull();
                continue;
              }
              const refusals = (['requests', 'tokens'] as const)
                .map((dimension) => ({
                  dimension,
                  over: levels[dimension] + cost[dimension] - buckets[dimension].capacity,
                }))
                .filter((r) => r.over > 1e-6)
                .map((r) => ({ ...r, waitMs: (r.over * 60_000) / buckets[r.dimension].limit }));
              if (refusals.length > 0) {
                const worst = refusals.reduce((a, b) => (b.waitMs > a.waitMs ? b : a));
                const b = buckets[worst.dimension];
                const name =
                  worst.dimension === 'requests' ? 'requests per min (RPM)' : 'tokens per min (TPM)';
                expect(answer.status).toBe(429);
                expect(answer.body.error).toEqual({
                  message: rateLimitMessage(
                    name,
                    b.limit,
                    Math.max(0, Math.ceil(levels[worst.dimension] - 1e-6)),
                    cost[worst.dimension],
                    formatGoDuration(worst.waitMs),
                  ),
                  type: worst.dimension,
                  param: null,
                  code: 'rate_limit_exceeded',
                });
                expect(answer.headers.get('retry-after')).toBe(String(Math.ceil(worst.waitMs / 1000)));
                expect(answer.headers.get('retry-after-ms')).toBe(String(Math.ceil(worst.waitMs)));
                expectHeaders('requests', levels.requests);
                expectHeaders('tokens', levels.tokens);
                continue;
              }
              expect(answer.status).toBe(200);
              for (const dimension of ['requests', 'tokens'] as const) {
                buckets[dimension].level = levels[dimension] + cost[dimension];
                buckets[dimension].at = now;
                expectHeaders(dimension, buckets[dimension].level);
              }
            }
          } finally {
            await mock!.close();
            mock = undefined;
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
