/**
 * The response cache through createFetch() with the real `openai` SDK against the emulator: hits,
 * misses, bypass and refresh, TTL (an injected clock), the byte bound, Cache-Control, tenant scoping,
 * what is never stored, both shapes of an answer, coalescing, and Redis shared by two processes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type OpenAIType from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetch, memoryBackend, redisBackend, ResponseCache } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';

const major = Number(process.versions.node.split('.')[0]);
const { default: OpenAI } = (await import(major >= 22 ? 'openai7' : 'openai')) as {
  default: typeof OpenAIType;
};

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

const ask = (content = 'Tell me about rivers', extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  max_tokens: 30,
  seed: 1,
  ...extra,
});

function client(f: typeof fetch, key = 'sk-one') {
  return new OpenAI({ apiKey: key, baseURL: mock!.url, fetch: f, maxRetries: 0 });
}

async function raw(c: OpenAIType, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const { data, response } = await c.chat.completions.create(body as never, { headers }).withResponse();
  return { data: data as unknown as Record<string, unknown>, headers: response.headers };
}

describe('createFetch({ cache })', () => {
  it('answers a repeated request from the cache: nothing sent, nothing reserved, the same answer', async () => {
    mock = await startMock();
    const f = createFetch({ cache: true });
    const c = client(f);
    const first = await raw(c, ask());
    const second = await raw(c, ask());
    expect(first.headers.get('x-sluice-cache')).toBe('miss');
    expect(second.headers.get('x-sluice-cache')).toBe('hit');
    expect(second.headers.get('age')).toBe('0');
    expect(second.data).toEqual(first.data);
    expect(mock.stats().received).toBe(1);
    // A hit never reached the engine: one admission only.
    expect(
      (await f.engine.stats())[0]!.buckets.find((b) => b.dimension === 'requests')!.level,
    ).toBeLessThanOrEqual(1);
  });

  it('bypasses with x-sluice-cache: off, re-asks with refresh, and honours Cache-Control', async () => {
    mock = await startMock();
    const c = client(createFetch({ cache: true }));
    await raw(c, ask());
    expect((await raw(c, ask(), { 'x-sluice-cache': 'off' })).headers.get('x-sluice-cache')).toBe('bypass');
    expect((await raw(c, ask(), { 'cache-control': 'no-store' })).headers.get('x-sluice-cache')).toBe(
      'bypass',
    );
    expect((await raw(c, ask(), { 'x-sluice-cache': 'refresh' })).headers.get('x-sluice-cache')).toBe('miss');
    expect((await raw(c, ask(), { 'cache-control': 'no-cache' })).headers.get('x-sluice-cache')).toBe('miss');
    expect(mock.stats().received).toBe(5);
    expect((await raw(c, ask())).headers.get('x-sluice-cache')).toBe('hit');
    expect(mock.stats().received).toBe(5);
  });

  it('expires entries after the TTL and refuses entries older than max-age', async () => {
    mock = await startMock();
    let now = 1_000_000;
    const c = client(createFetch({ cache: { ttlMs: 60_000, now: () => now } }));
    await raw(c, ask());
    now += 30_000;
    const young = await raw(c, ask());
    expect(young.headers.get('x-sluice-cache')).toBe('hit');
    expect(young.headers.get('age')).toBe('30');
    expect((await raw(c, ask(), { 'cache-control': 'max-age=10' })).headers.get('x-sluice-cache')).toBe(
      'miss',
    );
    now += 61_000;
    expect((await raw(c, ask('another question'))).headers.get('x-sluice-cache')).toBe('miss');
    now += 61_000;
    expect((await raw(c, ask('another question'))).headers.get('x-sluice-cache')).toBe('miss');
  });

  it('keeps memory under its byte bound', async () => {
    mock = await startMock();
    const c = client(createFetch({ cache: { backend: memoryBackend({ maxBytes: 3000 }) } }));
    for (const q of ['a', 'b', 'c', 'd', 'e', 'f']) await raw(c, ask(q));
    expect((await raw(c, ask('a'))).headers.get('x-sluice-cache')).toBe('miss');
    expect((await raw(c, ask('f'))).headers.get('x-sluice-cache')).toBe('hit');
  });

  it('never shares an entry between two keys, unless a namespace is shared', async () => {
    mock = await startMock();
    const f = createFetch({ cache: true });
    await raw(client(f, 'sk-one'), ask());
    expect((await raw(client(f, 'sk-two'), ask())).headers.get('x-sluice-cache')).toBe('miss');
    const shared = new ResponseCache({ namespace: 'team' });
    const g = createFetch({ cache: shared });
    await raw(client(g, 'sk-one'), ask());
    expect((await raw(client(g, 'sk-two'), ask())).headers.get('x-sluice-cache')).toBe('hit');
  });

  it('never stores an error or a stream the upstream cut', async () => {
    mock = await startMock({ streamCutRate: 1, seed: 3 });
    const c = client(createFetch({ cache: true }));
    await expect(c.chat.completions.create({ model: 'gpt-4o-mini', messages: [] })).rejects.toThrow();
    await expect(c.chat.completions.create({ model: 'gpt-4o-mini', messages: [] })).rejects.toThrow();
    const stream = await c.chat.completions.create({ ...ask(), stream: true });
    for await (const _ of stream) void _;
    const again = await c.chat.completions.create({ ...ask(), stream: true }).withResponse();
    expect(again.response.headers.get('x-sluice-cache')).toBe('miss');
    for await (const _ of again.data) void _;
    expect(mock.stats().received).toBe(4);
  });

  it('never stores a stream its reader abandoned', async () => {
    mock = await startMock({ msPerToken: 5 });
    const c = client(createFetch({ cache: true }));
    const controller = new AbortController();
    const stream = await c.chat.completions.create({ ...ask(), stream: true }, { signal: controller.signal });
    for await (const _ of stream) break;
    controller.abort();
    const again = await c.chat.completions.create(ask()).withResponse();
    expect(again.response.headers.get('x-sluice-cache')).toBe('miss');
  });

  it('never stores a 429', async () => {
    mock = await startMock({ rpm: 1, burstSeconds: 60 });
    const cache = new ResponseCache();
    const c = client(
      createFetch({ cache, maxRateLimitRetries: 0, limits: { rpm: 6000 }, learnLimits: false }),
    );
    await raw(c, ask('fill the bucket'));
    await expect(raw(c, ask())).rejects.toThrow();
    await mock.reset();
    // A fresh engine (the first one is cooling down after the 429), the same cache: nothing stored.
    const fresh = client(createFetch({ cache }));
    expect((await raw(fresh, ask())).headers.get('x-sluice-cache')).toBe('miss');
  });

  it('serves a stream’s answer later as JSON, every field identical to the stream assembled', async () => {
    mock = await startMock();
    const c = client(createFetch({ cache: true }));
    const stream = await c.chat.completions.create({
      ...ask(),
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let usage: unknown;
    let id = '';
    for await (const chunk of stream) {
      id = chunk.id;
      content += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    const json = await raw(c, ask());
    expect(json.headers.get('x-sluice-cache')).toBe('hit');
    expect(json.data).toMatchObject({
      id,
      object: 'chat.completion',
      usage,
      choices: [{ message: { role: 'assistant', content } }],
    });
    expect(mock.stats().received).toBe(1);
  });

  it('stores a stream whose reader cancelled the body after its [DONE]', async () => {
    mock = await startMock();
    const f = createFetch({ cache: true });
    const res = await f(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-one', 'content-type': 'application/json' },
      body: JSON.stringify({ ...ask(), stream: true, stream_options: { include_usage: true } }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('[DONE]')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toContain('[DONE]');
    await reader.cancel(); // as an SDK may once it has read the end
    const again = await raw(client(f), ask());
    expect(again.headers.get('x-sluice-cache')).toBe('hit');
    expect(mock.stats().received).toBe(1);
  });

  it('serves a JSON answer later as a real stream: several chunks, the usage chunk when asked, [DONE]', async () => {
    mock = await startMock();
    const f = createFetch({ cache: true });
    const c = client(f);
    const json = await raw(c, ask('Describe the sea in a few words', { max_tokens: 20 }));
    const res = await f(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-one', 'content-type': 'application/json' },
      body: JSON.stringify({
        ...ask('Describe the sea in a few words', { max_tokens: 20 }),
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    expect(res.headers.get('x-sluice-cache')).toBe('hit');
    const frames = (await res.text()).split('\n\n').filter((f) => f !== '');
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)) as Record<string, unknown>);
    expect(chunks.length).toBeGreaterThan(3);
    const message = (json.data['choices'] as { message: { content: string } }[])[0]!.message;
    const streamed = chunks
      .map((ch) => (ch['choices'] as { delta?: { content?: string } }[])[0]?.delta?.content ?? '')
      .join('');
    expect(streamed).toBe(message.content);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: json.data['usage'] });
  });

  it('coalesces 20 identical requests in flight into one upstream call', async () => {
    mock = await startMock({ latencyMs: 50 });
    const c = client(createFetch({ cache: true }));
    const answers = await Promise.all(Array.from({ length: 20 }, () => raw(c, ask())));
    expect(mock.stats().received).toBe(1);
    for (const a of answers) expect(a.data).toEqual(answers[0]!.data);
    expect(answers.filter((a) => a.headers.get('x-sluice-cache') === 'hit')).toHaveLength(19);
  });

  it('when the first of identical requests fails, the others still get answers of their own', async () => {
    mock = await startMock({ latencyMs: 20 });
    let calls = 0;
    const failingFirst: typeof fetch = async (input, init) => {
      if (++calls === 1)
        return new Response('{"error":{"message":"bad","type":"invalid_request_error"}}', {
          status: 400,
          headers: { 'content-type': 'application/json' },
        });
      return fetch(input, init);
    };
    const c = client(createFetch({ cache: true, fetch: failingFirst }));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => raw(c, ask())));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
  });

  it('shares entries between two processes through Redis', async () => {
    mock = await startMock();
    const prefix = `sluice-test-cache-${process.pid}-${Date.now()}:`;
    const child = fileURLToPath(new URL('./support/cache-process.mjs', import.meta.url));
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [child, mock!.url, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.on('data', (c: Buffer) => (text += c.toString()));
      p.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`child exited ${code}`))));
    });
    expect(out.trim()).toBe('miss');
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      const c = client(
        createFetch({ cache: { backend: redisBackend({ client: redis, prefix }) } }),
        'sk-shared',
      );
      expect((await raw(c, ask('from another process'))).headers.get('x-sluice-cache')).toBe('hit');
      expect(mock.stats().received).toBe(1);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  });
});
