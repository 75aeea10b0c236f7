/**
 * `--flavor anthropic` and `--flavor azure`: the providers' headers, bodies and endpoints.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockOptions, type MockServer } from '../src/mock/index.js';

const T0 = Date.UTC(2026, 0, 1);
let now = T0;
let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
  now = T0;
});

async function start(options: MockOptions): Promise<MockServer> {
  mock = await startMock({ clock: { now: () => now }, rpm: 0, tpm: 0, ...options });
  return mock;
}

async function messages(body: Record<string, unknown>, key = 'sk-ant-test') {
  const res = await fetch(`${mock!.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res;
}

/** 4 × (n − 1) characters of prompt and max_tokens 1: n tokens. */
const costing = (n: number, model = 'claude-sonnet-4-5') => ({
  model,
  max_tokens: 1,
  messages: [{ role: 'user', content: 'a'.repeat(4 * (n - 1)) }],
});

describe('anthropic flavor', () => {
  it('answers /v1/messages in Anthropic shape with anthropic-ratelimit-* headers', async () => {
    await start({ flavor: 'anthropic', rpm: 50, tpm: 100_000 });
    const res = await messages({
      model: 'claude-sonnet-4-5',
      max_tokens: 20,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }],
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: expect.any(String) }],
      stop_sequence: null,
      usage: { input_tokens: Math.ceil('Be brief.Hello there'.length / 4) },
    });
    expect(body.id).toMatch(/^msg_/);
    expect(['end_turn', 'max_tokens']).toContain(body.stop_reason);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    // 5 prompt tokens + 20 → 25 used; 100000 − 25 rounded down to the thousand.
    expect(res.headers.get('anthropic-ratelimit-tokens-limit')).toBe('100000');
    expect(res.headers.get('anthropic-ratelimit-tokens-remaining')).toBe('99000');
    expect(res.headers.get('anthropic-ratelimit-tokens-reset')).toBe('2026-01-01T00:00:01Z');
    expect(res.headers.get('anthropic-ratelimit-requests-limit')).toBe('50');
    expect(res.headers.get('anthropic-ratelimit-requests-remaining')).toBe('49');
    expect(res.headers.get('anthropic-ratelimit-requests-reset')).toBe('2026-01-01T00:00:02Z');
    expect(res.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });

  it('streams the Messages event sequence with the same text', async () => {
    await start({ flavor: 'anthropic' });
    const request = {
      model: 'claude-haiku-4-5',
      max_tokens: 30,
      messages: [{ role: 'user', content: 'Hi' }],
    };
    const json = await (await messages(request)).json();
    const res = await messages({ ...request, stream: true });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const frames = (await res.text()).split('\n\n').filter((f) => f !== '');
    const events = frames.map((f) => {
      const [eventLine, dataLine] = f.split('\n');
      const data = JSON.parse(dataLine!.slice('data: '.length));
      expect(eventLine).toBe(`event: ${data.type}`);
      return data;
    });
    expect(events.map((e) => e.type).filter((t) => t !== 'content_block_delta')).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const text = events
      .filter((e) => e.type === 'content_block_delta')
      .map((e) => e.delta.text)
      .join('');
    expect(text).toBe(json.content[0].text);
    expect(events.find((e) => e.type === 'message_delta').usage.output_tokens).toBe(json.usage.output_tokens);
  });

  it('refuses with rate_limit_error and retry-after seconds, no retry-after-ms', async () => {
    await start({ flavor: 'anthropic', itpm: 20_000 });
    expect((await messages(costing(15_000))).status).toBe(200);
    const res = await messages(costing(6000));
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message:
          'This request would exceed the rate limit for your organization (org-mock) of 20,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
      },
    });
    // (15000 + 5999 − 20000) × 60000 / 20000 = 2997 ms → 3 s.
    expect(res.headers.get('retry-after')).toBe('3');
    expect(res.headers.get('retry-after-ms')).toBeNull();
    expect(res.headers.get('anthropic-ratelimit-input-tokens-remaining')).toBe('5000');
    expect(mock!.stats().rejected.itpm).toBe(1);
  });

  it('charges output-token limits by max_tokens', async () => {
    await start({ flavor: 'anthropic', otpm: 1000 });
    const ok = await messages({ model: 'c', max_tokens: 600, messages: [{ role: 'user', content: 'x' }] });
    expect(ok.headers.get('anthropic-ratelimit-output-tokens-remaining')).toBe('0');
    const refused = await messages({
      model: 'c',
      max_tokens: 600,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.message).toContain('of 1,000 output tokens per minute');
  });

  it('speaks Anthropic for 400, 401 and the credit-balance 400', async () => {
    await start({ flavor: 'anthropic', keys: ['good'], quotaRequests: 1 });
    const missing = await messages({ model: 'c', messages: [{ role: 'user', content: 'x' }] }, 'good');
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
    });
    const unauthorized = await messages(costing(5), 'bad');
    expect(unauthorized.status).toBe(401);
    expect((await unauthorized.json()).error.type).toBe('authentication_error');
    expect((await messages(costing(5), 'good')).status).toBe(200);
    const broke = await messages(costing(5), 'good');
    expect(broke.status).toBe(400);
    expect((await broke.json()).error.message).toMatch(/^Your credit balance is too low/);
    expect(broke.headers.get('retry-after')).toBeNull();
  });

  it('serves /v1/messages only with the anthropic flavor', async () => {
    await start({});
    expect((await messages(costing(5))).status).toBe(404);
  });
});

describe('azure flavor', () => {
  it('token limits: "token rate limit", retry-after seconds and retry-after-ms', async () => {
    await start({ flavor: 'azure', tpm: 1000 });
    const url = `${mock!.origin}/openai/deployments/gpt-4o/embeddings?api-version=2024-06-01`;
    const send = (input: string) =>
      fetch(url, { method: 'POST', headers: { 'api-key': 'k' }, body: JSON.stringify({ input }) });
    const ok = await send('a'.repeat(3200));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-ratelimit-remaining-tokens')).toBe('200');
    expect(ok.headers.get('x-ratelimit-reset-tokens')).toBe('48');
    const refused = await send('a'.repeat(1200));
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: {
        code: '429',
        message:
          'Requests to the Embeddings_Create Operation under Azure OpenAI API version 2024-06-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
      },
    });
    expect(refused.headers.get('retry-after')).toBe('6');
    expect(refused.headers.get('retry-after-ms')).toBe('6000');
  });

  it('keeps OpenAI paths working and keys lanes by api-key', async () => {
    await start({ flavor: 'azure', rpm: 1 });
    const send = (key: string) =>
      fetch(`${mock!.url}/chat/completions`, {
        method: 'POST',
        headers: { 'api-key': key },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      });
    expect((await send('a')).status).toBe(200);
    expect((await send('a')).status).toBe(429);
    expect((await send('b')).status).toBe(200);
  });
});
