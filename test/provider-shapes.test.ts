/**
 * What OpenAI-compatible servers send when they limit, replayed from recorded shapes
 * (`test/fixtures/providers/*.json`, each naming its source): read by the engine's header parsing and
 * classification, then answered by a real server on 127.0.0.1 to the `openai` SDK through
 * createFetch() and through `sluice serve`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../src/engine/classify.js';
import { parseServerView } from '../src/engine/headers.js';
import { readBucket } from '../src/engine/learn.js';
import { DAY_MS, MINUTE_MS } from '../src/engine/limits.js';
import { createFetch, type SluiceEvent } from '../src/index.js';
import { startGateway, type Gateway } from '../src/serve/gateway.js';
import { chatCompletion, json, startServer, type TestServer } from './support/server.js';

interface Shape {
  provider: string;
  source: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const DIR = new URL('./fixtures/providers/', import.meta.url);
const shapes: Record<string, Shape> = Object.fromEntries(
  readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as Shape]),
);
const NOW = Date.parse('2026-01-01T00:00:00Z');

function read(name: string) {
  const shape = shapes[name]!;
  const body = shape.status >= 400 ? shape.body : undefined;
  const view = parseServerView(shape.headers, NOW, body);
  return { view, cls: classify(shape.status, view, body) };
}

describe('recorded shapes, read', () => {
  it('every fixture names its provider and source', () => {
    expect(Object.keys(shapes).length).toBeGreaterThanOrEqual(9);
    for (const s of Object.values(shapes)) {
      expect(s.provider).not.toBe('');
      expect(s.source.length).toBeGreaterThan(20);
    }
  });

  it('Groq: a TPM rate limit with its figures and the message wait; requests are per day, tokens per minute', () => {
    const { view, cls } = read('groq-429-tpm');
    expect(cls).toMatchObject({ outcome: 'rate_limited', code: 'rate_limit_exceeded', waitMs: 10_550 });
    expect(cls.quoted).toEqual({
      dimension: 'tokens',
      period: 'minute',
      limit: 6000,
      used: 5637,
      requested: 1418,
    });
    // The message's 10.55 s is more precise than retry-after's whole 11 s.
    expect(view.retryAfterMs).toBe(10_550);
    expect(readBucket(view.buckets.requests!)).toMatchObject({ limit: 14_400, windowMs: DAY_MS });
    expect(readBucket(view.buckets.tokens!)).toMatchObject({ limit: 6000, windowMs: MINUTE_MS });
  });

  it('Together: a dynamic-rate 429 waits retry-after; its suffix-less headers name no window and are not learned', () => {
    const { view, cls } = read('together-429-dynamic');
    expect(cls).toMatchObject({ outcome: 'rate_limited', type: 'dynamic_request_limited', waitMs: 2000 });
    expect(view.buckets).toEqual({});
    expect(read('together-503-capacity').cls.outcome).toBe('transient');
  });

  it('Mistral: per-minute request and token limits without a reset; the level is what is missing', () => {
    const { view } = read('mistral-200-headers');
    expect(view.buckets.requests).toEqual({ limit: 720, remaining: 717 });
    expect(readBucket(view.buckets.requests!)).toEqual({
      limit: 720,
      windowMs: MINUTE_MS,
      level: 3,
      capacity: 720,
    });
    expect(readBucket(view.buckets.tokens!)).toMatchObject({
      limit: 5_000_000,
      level: 89,
      capacity: 5_000_000,
    });
    const limited = read('mistral-429').cls;
    expect(limited).toMatchObject({ outcome: 'rate_limited', type: 'rate_limited', code: '1300' });
    expect(limited.waitMs).toBeUndefined();
  });

  it('vLLM: an error with a numeric code is the fatal answer it is, passed through', () => {
    const { view, cls } = read('vllm-400');
    expect(cls).toMatchObject({ outcome: 'fatal', status: 400, type: 'BadRequestError' });
    expect(view.buckets).toEqual({});
  });

  it('Ollama: a full queue (503 with a string error) is transient', () => {
    const { cls } = read('ollama-503-busy');
    expect(cls).toMatchObject({ outcome: 'transient', message: expect.stringContaining('server busy') });
  });

  it('Gemini: RESOURCE_EXHAUSTED is a rate limit; the per-day quota id marks a long wait', () => {
    const minute = read('gemini-openai-429').cls;
    expect(minute).toMatchObject({ outcome: 'rate_limited', code: 'RESOURCE_EXHAUSTED', waitMs: 250 });
    expect(minute.perDay).toBeUndefined();
    const day = read('gemini-openai-429-per-day').cls;
    expect(day).toMatchObject({ outcome: 'rate_limited', perDay: true, waitMs: 43_192_000 });
  });
});

/** A server that answers the recorded shape `times` times, then a success. */
async function replay(name: string, times = 1): Promise<TestServer> {
  const shape = shapes[name]!;
  let left = times;
  return startServer((_req, res) => {
    if (left-- > 0) json(res, shape.status, shape.body, shape.headers);
    else json(res, 200, chatCompletion('ok'), shapes['mistral-200-headers']!.headers);
  });
}

let server: TestServer | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await server?.close();
  gateway = undefined;
  server = undefined;
});

const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 5 };

describe('recorded shapes through createFetch()', () => {
  it('Gemini: waits the RetryInfo/message wait, then succeeds with the lane paused once', async () => {
    server = await replay('gemini-openai-429');
    const events: SluiceEvent[] = [];
    const client = new OpenAI({
      apiKey: 'g',
      baseURL: `${server.url}/v1beta/openai`,
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create(ask);
    expect(reply.choices[0]!.message.content).toBe('ok');
    expect(server.requests).toHaveLength(2);
    const limited = events.filter((e) => e.type === 'rate_limited');
    expect(limited).toHaveLength(1);
  });

  it('Gemini per day: fails at once with rate_limited when the wait is beyond the deadline, sending once', async () => {
    server = await replay('gemini-openai-429-per-day');
    const client = new OpenAI({
      apiKey: 'g',
      baseURL: `${server.url}/v1beta/openai`,
      fetch: createFetch({ maxWaitMs: 60_000 }),
      maxRetries: 0,
    });
    await expect(client.chat.completions.create(ask)).rejects.toMatchObject({
      status: 429,
      code: 'deadline_exceeded',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('Ollama: retries a busy 503 and returns the success', async () => {
    server = await replay('ollama-503-busy', 2);
    const client = new OpenAI({
      apiKey: 'ollama',
      baseURL: `${server.url}/v1`,
      fetch: createFetch({ retry: { baseDelayMs: 1, maxDelayMs: 5 } }),
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create(ask);
    expect(reply.choices[0]!.message.content).toBe('ok');
    expect(server.requests).toHaveLength(3);
  });

  it('Mistral: learns 720 RPM and 5,000,000 TPM from its headers', async () => {
    server = await replay('mistral-200-headers', 0);
    const fetch = createFetch();
    const client = new OpenAI({ apiKey: 'mi', baseURL: `${server.url}/v1`, fetch, maxRetries: 0 });
    await client.chat.completions.create(ask);
    const [lane] = await fetch.engine.stats();
    const limits = Object.fromEntries(lane!.buckets.map((b) => [b.id, b.limit]));
    expect(limits).toEqual({ 'requests/60000': 720, 'tokens/60000': 5_000_000 });
  });

  it('vLLM: passes the 400 through unchanged, sending once', async () => {
    server = await replay('vllm-400');
    const res = await createFetch()(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer v', 'content-type': 'application/json' },
      body: JSON.stringify(ask),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(shapes['vllm-400']!.body);
    expect(server.requests).toHaveLength(1);
  });
});

describe('recorded shapes through sluice serve', () => {
  it('Gemini: the gateway waits the server wait and answers the success', async () => {
    server = await replay('gemini-openai-429');
    gateway = await startGateway({ upstream: `${server.url}/v1beta/openai`, port: 0 });
    const client = new OpenAI({ apiKey: 'g', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const reply = await client.chat.completions.create(ask);
    expect(reply.choices[0]!.message.content).toBe('ok');
    expect(server.requests).toHaveLength(2);
  });

  it('Together: a 503 at the dynamic rate is retried; a vLLM 400 is passed through', async () => {
    server = await replay('together-503-capacity');
    gateway = await startGateway({
      upstream: `${server.url}/v1`,
      port: 0,
      engine: { retry: { baseDelayMs: 1, maxDelayMs: 5 } },
    });
    const client = new OpenAI({ apiKey: 't', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect((await client.chat.completions.create(ask)).choices[0]!.message.content).toBe('ok');
    expect(server.requests).toHaveLength(2);
    await gateway.close();
    await server.close();
    server = await replay('vllm-400');
    gateway = await startGateway({ upstream: `${server.url}/v1`, port: 0 });
    const direct = new OpenAI({ apiKey: 'v', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await expect(direct.chat.completions.create(ask)).rejects.toMatchObject({ status: 400 });
    expect(server.requests).toHaveLength(1);
  });
});
