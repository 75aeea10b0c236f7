import { afterEach, describe, expect, it } from 'vitest';
import { chatCompletion, json, startServer, type TestServer } from '../../test/support/server.js';
import type { SluiceEvent } from '../engine/events.js';
import { createFetch } from './create-fetch.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }], ...extra });

const post = (headers: Record<string, string> = {}, body = chatBody()) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-secret-key', ...headers },
  body,
});

describe('createFetch', () => {
  it('passes requests that are not LLM calls through untouched', async () => {
    server = await startServer((_req, res) => json(res, 200, { data: [] }, { 'x-custom': 'yes' }));
    const f = createFetch();
    const res = await f(`${server.url}/v1/models`, { headers: { authorization: 'Bearer k' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(res.headers.get('x-sluice-attempts')).toBeNull();
    expect(server.requests[0]!.headers.authorization).toBe('Bearer k');
  });

  it('strips x-sluice-* headers before going upstream and reports what happened', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const f = createFetch();
    const res = await f(
      `${server.url}/v1/chat/completions`,
      post({
        'x-sluice-priority': 'interactive',
        'x-sluice-tenant': 'app-a',
        'x-sluice-max-wait-ms': '5000',
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ choices: [{ message: { content: 'hi' } }] });
    const sent = server.requests[0]!;
    expect(Object.keys(sent.headers).filter((h) => h.startsWith('x-sluice'))).toEqual([]);
    expect(sent.headers.authorization).toBe('Bearer sk-secret-key');
    expect(JSON.parse(sent.body)).toMatchObject({ model: 'gpt-4o-mini' });
    expect(res.headers.get('x-sluice-attempts')).toBe('1');
    expect(res.headers.get('x-sluice-queued-ms')).not.toBeNull();
  });

  it('reports what happened on answers it does not need to watch too (max_tokens given)', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion(), { 'x-request-id': 'req_9' }));
    const res = await createFetch()(
      `${server.url}/v1/chat/completions`,
      post({}, chatBody({ max_tokens: 5 })),
    );
    expect(res.headers.get('x-sluice-attempts')).toBe('1');
    expect(res.headers.get('x-request-id')).toBe('req_9');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ choices: [{ message: { content: 'hi' } }] });
  });

  it('answers a bad x-sluice header with a 400 that names it, sending nothing', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const res = await createFetch()(
      `${server.url}/v1/chat/completions`,
      post({ 'x-sluice-priority': 'urgent' }),
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_option');
    expect(body.error.message).toContain('x-sluice-priority');
    expect(server.requests).toHaveLength(0);
  });

  it('streams responses as they arrive, never buffering them', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    server = await startServer(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"index":0,"delta":{"content":"first"}}]}\n\n');
      await released; // the rest only after the client has seen the first chunk
      res.write(
        'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n',
      );
      res.end('data: [DONE]\n\n');
    });
    const f = createFetch();
    const res = await f(`${server.url}/v1/chat/completions`, post({}, chatBody({ stream: true })));
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('first');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toContain('[DONE]');
  });

  it('passes a fatal answer (400) through unchanged and does not retry it', async () => {
    const body = {
      error: {
        message: 'Invalid value for messages',
        type: 'invalid_request_error',
        param: 'messages',
        code: null,
      },
    };
    server = await startServer((_req, res) => json(res, 400, body, { 'x-request-id': 'req_1' }));
    const res = await createFetch()(`${server.url}/v1/chat/completions`, post());
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(body);
    expect(res.headers.get('x-request-id')).toBe('req_1');
    expect(server.requests).toHaveLength(1);
  });

  it('answers Sluice failures in OpenAI error shape, or throws them when asked', async () => {
    const quota = {
      error: {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        param: null,
        code: 'insufficient_quota',
      },
    };
    server = await startServer((_req, res) => json(res, 429, quota));
    const res = await createFetch()(`${server.url}/v1/chat/completions`, post());
    expect(res.status).toBe(429);
    expect(res.headers.get('x-sluice-error-code')).toBe('quota_exhausted');
    const body = (await res.json()) as { error: { code: string; type: string; upstream: unknown } };
    expect(body.error).toMatchObject({
      code: 'quota_exhausted',
      type: 'sluice_error',
      upstream: quota.error,
    });

    await expect(
      createFetch({ errors: 'throw' })(`${server.url}/v1/chat/completions`, post()),
    ).rejects.toMatchObject({
      name: 'QuotaExhaustedError',
      code: 'quota_exhausted',
      status: 429,
    });
  });

  it('trips the lane when a quota error arrives inside a 200 stream', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        'data: {"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}\n\n',
      );
    });
    const f = createFetch();
    const res = await f(`${server.url}/v1/chat/completions`, post({}, chatBody({ stream: true })));
    await res.text();
    const next = await f(`${server.url}/v1/chat/completions`, post());
    expect(next.status).toBe(429);
    expect(next.headers.get('x-sluice-error-code')).toBe('quota_exhausted');
    expect(server.requests).toHaveLength(1);
  });

  it('never puts the API key in lanes or events', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const events: SluiceEvent[] = [];
    const f = createFetch({ onEvent: (e) => events.push(e) });
    await (await f(`${server.url}/v1/chat/completions`, post())).text();
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events)).not.toContain('sk-secret-key');
    expect(JSON.stringify(await f.engine.stats())).not.toContain('sk-secret-key');
  });

  it('settles a request without a max against its actual usage and learns the typical completion', async () => {
    server = await startServer((_req, res) =>
      json(res, 200, chatCompletion('hi', { prompt_tokens: 3, completion_tokens: 500, total_tokens: 503 })),
    );
    const events: SluiceEvent[] = [];
    const f = createFetch({ onEvent: (e) => events.push(e), limits: { tpm: 100_000 } });
    await (await f(`${server.url}/v1/chat/completions`, post())).json();
    const settled = events.find((e) => e.type === 'settled');
    expect(settled).toMatchObject({ actualTokens: 503 });
    // The next request without a max is charged the learned typical completion, not the default 64:
    // 0.8 × 64 + 0.2 × 500 completion tokens, plus ceil(11 / 4) prompt tokens.
    await (await f(`${server.url}/v1/chat/completions`, post())).json();
    const admitted = events.filter((e) => e.type === 'admitted');
    expect(admitted).toHaveLength(2);
    expect(admitted[0]).toMatchObject({ tokens: 3 + 64 });
    expect(admitted[1]!.type === 'admitted' && admitted[1]!.tokens).toBeCloseTo(3 + 0.8 * 64 + 0.2 * 500, 6);
  });

  it('rejects like fetch when the caller aborts a queued request, sending nothing for it', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const f = createFetch({ limits: { rpm: 60, burstMs: 1000 }, safetyMarginMs: 0 });
    await (await f(`${server.url}/v1/chat/completions`, post())).text();
    const controller = new AbortController();
    const queued = f(`${server.url}/v1/chat/completions`, { ...post(), signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.requests).toHaveLength(1);
  });

  it('accepts a Request object as input', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const f = createFetch();
    const res = await f(
      new Request(`${server.url}/v1/chat/completions`, post({ 'x-sluice-priority': 'batch' })),
    );
    expect(res.status).toBe(200);
    expect(server.requests[0]!.headers['x-sluice-priority']).toBeUndefined();
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ model: 'gpt-4o-mini' });
  });

  it('passes a POST to a path that only ends like an endpoint through once, body untouched (regression: /api/tickets/42/messages was sent 5 times and its 500 replaced)', async () => {
    server = await startServer((_req, res) => json(res, 500, { problem: 'ticket store down' }));
    const f = createFetch({ retry: { baseDelayMs: 1, maxDelayMs: 1 } });
    const res = await f(`${server.url}/api/tickets/42/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ problem: 'ticket store down' });
    expect(res.headers.get('x-sluice-attempts')).toBeNull();
    expect(server.requests).toHaveLength(1);
  });

  it('passes a POST to an LLM path whose body names no model through once', async () => {
    server = await startServer((_req, res) => json(res, 503, { problem: 'x' }));
    const f = createFetch({ retry: { baseDelayMs: 1, maxDelayMs: 1 } });
    const res = await f(`${server.url}/v1/chat/completions`, post({}, JSON.stringify({ messages: [] })));
    expect(res.status).toBe(503);
    expect(server.requests).toHaveLength(1);
  });

  it.each([
    ['a GET that is not an LLM call', 'GET', '/v1/models'],
    ['an LLM call', 'POST', '/v1/chat/completions'],
  ])(
    "keeps a Request's redirect: 'manual' on %s (regression: the 302 was followed)",
    async (_name, method, path) => {
      server = await startServer((req, res) => {
        if (req.url === '/elsewhere') return json(res, 200, chatCompletion());
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      });
      const f = createFetch();
      const init: RequestInit = { method, redirect: 'manual', headers: { authorization: 'Bearer k' } };
      if (method === 'POST') init.body = chatBody({ max_tokens: 5 });
      const res = await f(new Request(`${server.url}${path}`, init));
      expect(res.status).toBe(302);
      expect(server.requests.map((r) => r.url)).toEqual([path]);
    },
  );

  it('costs a prompt longer than 64 KiB in full (regression: it was costed as 0 tokens and sent)', async () => {
    server = await startServer((_req, res) => json(res, 200, chatCompletion()));
    const f = createFetch({ limits: { tpm: 50_000 } });
    const res = await f(
      `${server.url}/v1/chat/completions`,
      post({}, chatBody({ max_tokens: 1, messages: [{ role: 'user', content: 'x'.repeat(400_000) }] })),
    );
    expect(res.status).toBe(429);
    expect(res.headers.get('x-sluice-error-code')).toBe('request_too_large');
    expect(server.requests).toHaveLength(0);
  });

  it.each([
    [{ priority: 'urgent' }, '`priority`'],
    [{ tenant: ' ' }, '`tenant`'],
    [{ errors: 'log' }, '`errors`'],
    [{ fetch: 'https://x' }, '`fetch`'],
  ])('refuses the option %j with invalid_option naming it', (options, name) => {
    expect(() => createFetch(options as never)).toThrow(
      expect.objectContaining({ code: 'invalid_option', message: expect.stringContaining(name) }),
    );
  });
});
