/**
 * The official SDKs through createFetch(), against real servers on 127.0.0.1: the emulator (which limits
 * and answers like OpenAI) and small purpose-built servers.
 *
 * On Node.js 22+ the `openai` 7 line is used (installed as `openai7`), on Node.js 20 the 6 line.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import type OpenAIType from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetch, type SluiceEvent } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';
import { chatCompletion, json, startServer, type TestServer } from './support/server.js';

const major = Number(process.versions.node.split('.')[0]);
const { default: OpenAI } = (await import(major >= 22 ? 'openai7' : 'openai')) as {
  default: typeof OpenAIType;
};

let mock: MockServer | undefined;
let server: TestServer | undefined;
afterEach(async () => {
  await mock?.close();
  await server?.close();
  mock = undefined;
  server = undefined;
});

const ask = (content: string, max = 20) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  max_tokens: max,
});

describe(`openai SDK ${major >= 22 ? 'v7' : 'v6'} with createFetch()`, () => {
  it('completes a burst far above the limit with every request succeeded and the server never over its limit', async () => {
    // 600 RPM with a 2 s burst: 20 at once, then 10/s. 50 requests fired together.
    mock = await startMock({ rpm: 600, tpm: 1_000_000, burstSeconds: 2 });
    const events: SluiceEvent[] = [];
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: mock.url,
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.chat.completions.create(ask(`question ${i}`))),
    );
    expect(replies).toHaveLength(50);
    for (const r of replies) expect(r.choices[0]!.message.content).toBeTruthy();
    const stats = mock.stats();
    expect(stats.admitted).toBe(50);
    expect(stats.rejected.total).toBeLessThanOrEqual(1);
    // The engine paced rather than fired: its admissions span at least (50 − 20) / 10 per second = 3 s
    // (less its 100 ms safety margin). A busy machine can only stretch that span, never shrink it.
    const admitted = events.filter((e) => e.type === 'admitted').map((e) => e.at);
    expect(admitted.length).toBeGreaterThanOrEqual(50);
    expect(Math.max(...admitted) - Math.min(...admitted)).toBeGreaterThanOrEqual(2900);
    expect(events.some((e) => e.type === 'limits_learned')).toBe(true);
  });

  it('streams through unchanged: every chunk as a direct connection gets it', async () => {
    // A fixed stream of several events written apart, so chunk boundaries are real.
    const events = [
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      },
      ...['Hel', 'lo, ', 'wor', 'ld'].map((content) => ({
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      })),
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      },
      {
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      },
    ];
    server = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const event of events) {
        res.write(`data: ${JSON.stringify(event)}\n\n`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      res.end('data: [DONE]\n\n');
    });
    const read = async (fetch?: typeof globalThis.fetch) => {
      const client = new OpenAI({
        apiKey: 'sk-test',
        baseURL: `${server!.url}/v1`,
        maxRetries: 0,
        ...(fetch ? { fetch } : {}),
      });
      const stream = await client.chat.completions.create({
        ...ask('stream me', 30),
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: unknown[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      return chunks;
    };
    const direct = await read();
    const through = await read(createFetch());
    expect(direct).toEqual(events);
    expect(through).toEqual(direct);
  });

  it('sends insufficient_quota exactly once and fails every queued request fast with quota_exhausted', async () => {
    // 60 RPM with a 1 s burst: after the first request the others queue, one per second.
    mock = await startMock({ quotaRequests: 1, rpm: 60, burstSeconds: 1 });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: mock.url, fetch: createFetch(), maxRetries: 0 });
    await client.chat.completions.create(ask('the one that fits'));
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => client.chat.completions.create(ask(`q${i}`))),
    );
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.RateLimitError>;
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(err.code).toBe('quota_exhausted');
    }
    const stats = mock.stats();
    expect(stats.rejected.quota).toBe(1);
    expect(stats.received).toBe(2);
  });

  it('retries a 5xx and returns the success; does not retry a 400', async () => {
    let calls = 0;
    server = await startServer((_req, res, body) => {
      calls++;
      if (JSON.parse(body).messages.length === 0) {
        return json(res, 400, {
          error: {
            message: "'messages' must not be empty",
            type: 'invalid_request_error',
            param: 'messages',
            code: null,
          },
        });
      }
      if (calls === 1) return json(res, 503, { error: { message: 'overloaded', type: 'server_error' } });
      json(res, 200, chatCompletion('recovered'));
    });
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: `${server.url}/v1`,
      fetch: createFetch({ retry: { baseDelayMs: 10 } }),
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create(ask('hello'));
    expect(reply.choices[0]!.message.content).toBe('recovered');
    expect(calls).toBe(2);

    const before = calls;
    await expect(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    expect(calls - before).toBe(1);
  });

  it('waits out a 429 instead of failing, honouring the server wait', async () => {
    // 60 RPM with a 1 s burst: the second request must wait about a second.
    mock = await startMock({ rpm: 60, burstSeconds: 1 });
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: mock.url,
      fetch: createFetch({ limits: { rpm: 6000 } }),
      maxRetries: 0,
    });
    const started = Date.now();
    await Promise.all([client.chat.completions.create(ask('a')), client.chat.completions.create(ask('b'))]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(mock.stats().admitted).toBe(2);
  });

  it('surfaces a deadline that cannot be met as a 429 with code deadline_exceeded', async () => {
    mock = await startMock({ rpm: 60, burstSeconds: 1 });
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: mock.url,
      fetch: createFetch({ limits: { rpm: 60, burstMs: 1000 } }),
      maxRetries: 0,
    });
    await client.chat.completions.create(ask('first'));
    const err = await client.chat.completions
      .create(ask('second'), { headers: { 'x-sluice-max-wait-ms': '100' } })
      .catch((e: unknown) => e as InstanceType<typeof OpenAI.RateLimitError>);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('deadline_exceeded');
    expect(mock.stats().received).toBe(1);
  });
});

describe('Vercel AI SDK with createFetch()', () => {
  it('generates and streams text through it', async () => {
    mock = await startMock();
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: mock.url, fetch: createFetch() });
    const { text } = await generateText({
      model: openai.chat('gpt-4o-mini'),
      prompt: 'hello',
      maxRetries: 0,
    });
    expect(text.length).toBeGreaterThan(0);
    const result = streamText({ model: openai.chat('gpt-4o-mini'), prompt: 'hello again', maxRetries: 0 });
    let streamed = '';
    for await (const part of result.textStream) streamed += part;
    expect(streamed.length).toBeGreaterThan(0);
    expect(mock.stats().admitted).toBe(2);
  });
});
