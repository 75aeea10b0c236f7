/**
 * The official `openai` SDK (v6) against the emulator, unchanged: every endpoint, JSON and streams, and
 * its error classes for each refusal.
 */
import OpenAI, { AzureOpenAI, RateLimitError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';

let mock: MockServer;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMock({ rpm: 0, tpm: 0 });
  client = new OpenAI({ baseURL: mock.url, apiKey: 'sk-test', maxRetries: 0 });
});
afterAll(() => mock.close());
afterEach(() => mock.reset());

const messages = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Say something about rivers.' },
];
const promptTokens = Math.ceil(('You are terse.'.length + 'Say something about rivers.'.length) / 4);

describe('chat completions', () => {
  it('answers JSON with usage computed from the prompt', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 30 });
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('gpt-4o-mini');
    expect(r.id).toMatch(/^chatcmpl-/);
    const choice = r.choices[0]!;
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.content!.length).toBeGreaterThan(0);
    expect(r.usage!.prompt_tokens).toBe(promptTokens);
    expect(r.usage!.completion_tokens).toBeGreaterThanOrEqual(1);
    expect(r.usage!.completion_tokens).toBeLessThanOrEqual(30);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    expect(choice.finish_reason).toBe(r.usage!.completion_tokens === 30 ? 'length' : 'stop');
  });

  it('streams the same text, with a usage chunk when asked', async () => {
    const json = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 30 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 30,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks += 1;
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.usage) {
        expect(chunk.choices).toEqual([]);
        usage = chunk.usage;
      }
      const choice = chunk.choices[0];
      text += choice?.delta.content ?? '';
      finish = choice?.finish_reason ?? finish;
    }
    expect(text).toBe(json.choices[0]!.message.content);
    expect(usage).toEqual(json.usage);
    expect(finish).toBe(json.choices[0]!.finish_reason);
    // role chunk + one chunk per token + finish chunk + usage chunk
    expect(chunks).toBe(json.usage!.completion_tokens + 3);
  });

  it('works with the stream helper and n > 1', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o', messages, n: 2, max_tokens: 5 });
    const final = await runner.finalChatCompletion();
    expect(final.choices).toHaveLength(2);
    expect(final.choices.every((c) => (c.message.content ?? '').length > 0)).toBe(true);
  });

  it('answers the same request the same way (caches can be checked)', async () => {
    const a = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const b = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    const c = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'else' }],
    });
    expect(b.choices[0]!.message.content).toBe(a.choices[0]!.message.content);
    expect(b.usage).toEqual(a.usage);
    expect(a.usage!.completion_tokens).toBeLessThanOrEqual(16);
    expect(c.choices[0]!.message.content).not.toBe(a.choices[0]!.message.content);
    expect(b.id).not.toBe(a.id);
  });
});

describe('other endpoints', () => {
  it('legacy completions, JSON and stream', async () => {
    const r = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Once upon',
      max_tokens: 8,
    });
    expect(r.object).toBe('text_completion');
    expect(r.usage!.prompt_tokens).toBe(3);
    let text = '';
    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Once upon',
      max_tokens: 8,
      stream: true,
    });
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(r.choices[0]!.text);
  });

  it('embeddings, in the SDK default base64 and as floats', async () => {
    const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    expect(b64.data).toHaveLength(2);
    expect(b64.data[0]!.embedding).toHaveLength(1536);
    expect(b64.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['one', 'two'],
      encoding_format: 'float',
    });
    for (let i = 0; i < 1536; i += 97) {
      expect(floats.data[0]!.embedding[i]).toBeCloseTo(b64.data[0]!.embedding[i]!, 6);
    }
    const small = await client.embeddings.create({
      model: 'text-embedding-3-large',
      input: 'x',
      dimensions: 64,
    });
    expect(small.data[0]!.embedding).toHaveLength(64);
  });

  it('responses, JSON and stream', async () => {
    const r = await client.responses.create({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: 'Hello',
      max_output_tokens: 40,
    });
    expect(r.object).toBe('response');
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.usage!.input_tokens).toBe(Math.ceil('Be brief.Hello'.length / 4));

    const events: string[] = [];
    let text = '';
    const stream = await client.responses.create({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: 'Hello',
      max_output_tokens: 40,
      stream: true,
    });
    for await (const event of stream) {
      events.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(text).toBe(r.output_text);
    expect(events[0]).toBe('response.created');
    expect(events).toContain('response.output_text.delta');
    expect(events.at(-1)).toBe(r.status === 'completed' ? 'response.completed' : 'response.incomplete');

    const helper = client.responses.stream({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: 'Hello',
      max_output_tokens: 40,
    });
    expect((await helper.finalResponse()).output_text).toBe(r.output_text);
  });

  it('lists and retrieves models', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toContain('gpt-4o-mini');
    expect((await client.models.retrieve('anything')).id).toBe('anything');
  });
});

describe('errors surface as the SDK error classes', () => {
  it('429s are RateLimitError with the code and type of each kind', async () => {
    const limited = await startMock({ rpm: 2, tpm: 1000, quotaRequests: 4, clock: { now: () => 0 } });
    try {
      const c = new OpenAI({ baseURL: limited.url, apiKey: 'sk-a', maxRetries: 0 });
      const ask = (model: string, max_tokens = 1) =>
        c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens });
      await ask('m1');
      await ask('m1');
      const requests = await ask('m1').catch((e: unknown) => e);
      expect(requests).toBeInstanceOf(OpenAI.RateLimitError);
      expect(requests).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests' });
      expect((requests as RateLimitError).headers.get('retry-after-ms')).toBe('30000');
      expect((requests as RateLimitError).requestID).toMatch(/^req_/);

      const tokens = await ask('m3', 999)
        .then(() => ask('m3', 999))
        .catch((e: unknown) => e);
      expect(tokens).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'tokens' });

      const tooLarge = await ask('m4', 5000).catch((e: unknown) => e);
      expect(tooLarge).toBeInstanceOf(OpenAI.RateLimitError);
      expect((tooLarge as Error).message).toContain('Request too large');

      await ask('m5');
      const quota = await ask('m6').catch((e: unknown) => e);
      expect(quota).toBeInstanceOf(OpenAI.RateLimitError);
      expect(quota).toMatchObject({ code: 'insufficient_quota', type: 'insufficient_quota' });
    } finally {
      await limited.close();
    }
  });

  it('slow_down is a RateLimitError with code slow_down', async () => {
    const slow = await startMock({
      rpm: 0,
      tpm: 0,
      slowDownFactor: 2,
      slowDownMin: 1,
      clock: { now: () => 0 },
    });
    try {
      const c = new OpenAI({ baseURL: slow.url, apiKey: 'sk-a', maxRetries: 0 });
      const ask = () =>
        c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      await ask();
      await expect(ask()).rejects.toMatchObject({ status: 429, code: 'slow_down', type: 'rate_limit_error' });
    } finally {
      await slow.close();
    }
  });

  it("the SDK's own retries honour retry-after-ms", async () => {
    // 80 RPM with a 0.75 s burst holds one request: the next is told to wait exactly 750 ms. The clock
    // reads 0 for the first two admissions and a minute later from then on, whatever the machine's load.
    // Only retry-after-ms is sent; without it the SDK would wait its own backoff (at most 500 ms here).
    let reads = 0;
    const clock = { now: () => (reads++ < 2 ? 0 : 60_000) };
    const fast = await startMock({ rpm: 80, tpm: 0, burstSeconds: 0.75, retryAfter: false, clock });
    try {
      const attempts: { sentAt: number; status: number; retryAfterMs: string | null }[] = [];
      const recording: typeof fetch = async (input, init) => {
        const sentAt = performance.now();
        const res = await fetch(input, init);
        attempts.push({ sentAt, status: res.status, retryAfterMs: res.headers.get('retry-after-ms') });
        return res;
      };
      const c = new OpenAI({ baseURL: fast.url, apiKey: 'sk-a', maxRetries: 2, fetch: recording });
      const ask = () =>
        c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      await ask();
      await ask();
      expect(fast.stats()).toMatchObject({ admitted: 2, rejected: { rpm: 1 } });
      expect(attempts.map((a) => [a.status, a.retryAfterMs])).toEqual([
        [200, null],
        [429, '750'],
        [200, null],
      ]);
      // The retry left no sooner than the advertised wait after the refused attempt left (a timer may
      // fire up to a few ms early by the coarse clock Node's timers read); load only makes it later.
      expect(attempts[2]!.sentAt - attempts[1]!.sentAt).toBeGreaterThanOrEqual(750 - 5);
    } finally {
      await fast.close();
    }
  });

  it('400s are BadRequestError with invalid_request_error, never a crash', async () => {
    const missing = await client.chat.completions
      .create({ model: 'gpt-4o-mini' } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.BadRequestError);
    expect(missing).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'missing_required_parameter',
    });
    const noModel = await client.chat.completions
      .create({ messages } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(noModel).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      message: '400 you must provide a model parameter',
    });

    for (const body of ['{not json', '', 'null', '[]', '"text"']) {
      const res = await fetch(`${mock.url}/chat/completions`, { method: 'POST', body });
      expect(res.status).toBe(400);
      expect((await res.json()).error.type).toBe('invalid_request_error');
    }
    expect((await client.chat.completions.create({ model: 'm', messages })).object).toBe('chat.completion');
  });

  it('401 for unknown keys when --keys is given', async () => {
    const keyed = await startMock({ keys: ['sk-good'] });
    try {
      const bad = new OpenAI({ baseURL: keyed.url, apiKey: 'sk-bad-key-123456', maxRetries: 0 });
      const err = await bad.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
      const none = await fetch(`${keyed.url}/chat/completions`, { method: 'POST', body: '{}' });
      expect(none.status).toBe(401);
      expect((await none.json()).error.message).toMatch(/^You didn't provide an API key/);
      const good = new OpenAI({ baseURL: keyed.url, apiKey: 'sk-good', maxRetries: 0 });
      expect((await good.chat.completions.create({ model: 'm', messages })).object).toBe('chat.completion');
      await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      expect(keyed.stats().errors.unauthorized).toBe(3);
    } finally {
      await keyed.close();
    }
  });

  it('404 for malformed escapes in paths, and the server keeps serving', async () => {
    expect((await fetch(`${mock.url}/models/%E0%A4%A`)).status).toBe(404);
    const azure = await startMock({ flavor: 'azure' });
    try {
      const res = await fetch(`${azure.origin}/openai/deployments/%E0%A4%A/chat/completions`, {
        method: 'POST',
        body: '{}',
      });
      expect(res.status).toBe(404);
    } finally {
      await azure.close();
    }
    expect((await client.models.retrieve('gpt-4o')).id).toBe('gpt-4o');
  });

  it('404 for unknown paths in OpenAI shape', async () => {
    const res = await fetch(`${mock.url}/nothing/here`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/nothing/here)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });
});

describe('Azure flavor with the AzureOpenAI client', () => {
  it('routes deployments, reads api-key and answers with integer-second resets', async () => {
    const azure = await startMock({ flavor: 'azure', rpm: 2, tpm: 1000, clock: { now: () => 0 } });
    try {
      const c = new AzureOpenAI({
        endpoint: azure.origin,
        apiKey: 'azure-key',
        apiVersion: '2024-10-21',
        deployment: 'my-gpt',
        maxRetries: 0,
      });
      const r = await c.chat.completions
        .create({ model: 'ignored', messages, max_tokens: 10 })
        .withResponse();
      expect(r.data.model).toBe('my-gpt');
      expect(r.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
      expect(r.response.headers.get('x-ratelimit-reset-requests')).toBe('30');
      expect(r.response.headers.get('apim-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await c.chat.completions.create({ model: 'ignored', messages, max_tokens: 10 });
      const err = await c.chat.completions
        .create({ model: 'ignored', messages, max_tokens: 10 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const e = err as RateLimitError;
      expect(e.code).toBe('429');
      expect(e.message).toBe(
        '429 Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 30 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
      );
      expect(e.headers.get('retry-after')).toBe('30');
      expect(e.headers.get('x-ratelimit-reset-requests')).toBe('60');
    } finally {
      await azure.close();
    }
  });
});
