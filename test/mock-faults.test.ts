/**
 * Faults on demand: injected 5xx, cut connections, cut streams, latency and per-token pacing, seeded.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, startMock, type MockOptions, type MockServer } from '../src/mock/index.js';

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

async function start(options: MockOptions): Promise<MockServer> {
  mock = await startMock({ rpm: 0, tpm: 0, ...options });
  return mock;
}

const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

async function post(extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${mock!.url}/chat/completions`, { method: 'POST', body: body(extra) });
}

describe('--error-rate', () => {
  it('answers 500, 502 or 503 in OpenAI shape and charges nothing', async () => {
    await start({ errorRate: 1, rpm: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const res = await post();
      statuses.add(res.status);
      expect((await res.json()).error).toMatchObject({ type: 'server_error', code: null });
      expect(res.headers.get('x-ratelimit-limit-requests')).toBeNull();
    }
    expect([...statuses].sort()).toEqual([500, 502, 503]);
    expect(mock!.stats()).toMatchObject({
      received: 20,
      admitted: 0,
      rejected: { total: 0 },
      errors: { injected: 20 },
    });
  });

  it('is reproducible with --seed', async () => {
    const run = async () => {
      await start({ errorRate: 0.5, seed: 42 });
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await post()).status);
      await mock!.close();
      mock = undefined;
      return statuses;
    };
    const first = await run();
    expect(first).toContain(200);
    expect(first.some((s) => s >= 500)).toBe(true);
    expect(await run()).toEqual(first);
  });

  it('the SDK sees InternalServerError', async () => {
    await start({ errorRate: 1 });
    const client = new OpenAI({ baseURL: mock!.url, apiKey: 'k', maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBeGreaterThanOrEqual(500);
  });
});

describe('--reset-rate', () => {
  it('cuts an admitted JSON answer mid-body', async () => {
    await start({ resetRate: 1, seed: 1 });
    const res = await post({ max_tokens: 200 });
    expect(res.status).toBe(200);
    const length = Number(res.headers.get('content-length'));
    expect(length).toBeGreaterThan(0);
    await expect(res.text()).rejects.toThrow();
    expect(mock!.stats()).toMatchObject({ admitted: 1, errors: { resets: 1 } });
  });

  it('cuts an admitted stream mid-body; the SDK throws while iterating', async () => {
    await start({ resetRate: 1, seed: 2 });
    const client = new OpenAI({ baseURL: mock!.url, apiKey: 'k', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 50,
      stream: true,
    });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow();
  });
});

describe('--stream-cut-rate', () => {
  it('ends the stream cleanly without its finish chunk or [DONE]', async () => {
    await start({ streamCutRate: 1, seed: 3 });
    for (let i = 0; i < 5; i++) {
      const res = await post({
        stream: true,
        max_tokens: 20,
        messages: [{ role: 'user', content: `q${i}` }],
      });
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const text = await res.text();
      expect(text.startsWith('data: {')).toBe(true);
      expect(text.endsWith('\n\n')).toBe(true);
      expect(text).not.toContain('[DONE]');
      expect(text).not.toContain('"finish_reason":"');
    }
    expect(mock!.stats().errors.streamCuts).toBe(5);
  });

  it('leaves JSON answers alone, and a full stream ends with [DONE]', async () => {
    await start({ streamCutRate: 1 });
    expect((await (await post()).json()).object).toBe('chat.completion');
    await mock!.close();
    await start({});
    const text = await (await post({ stream: true })).text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(
      text
        .split('\n\n')
        .filter((f) => f !== '')
        .every((f) => f.startsWith('data: ')),
    ).toBe(true);
  });

  it('cuts Responses streams before response.completed', async () => {
    await start({ streamCutRate: 1, seed: 4 });
    const res = await fetch(`${mock!.url}/responses`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', input: 'hi', stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('event: response.created');
    expect(text).not.toContain('response.completed');
  });
});

describe('latency and pacing', () => {
  it('--latency-ms delays admitted answers and shows in openai-processing-ms', async () => {
    await start({ latencyMs: 80 });
    const started = performance.now();
    const res = await post();
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(res.headers.get('openai-processing-ms')).toBe('80');
  });

  it('--ms-per-token paces stream deltas and delays JSON answers by the tokens generated', async () => {
    await start({ msPerToken: 10 });
    const started = performance.now();
    const json = await (await post({ max_tokens: 12 })).json();
    const tokens = json.usage.completion_tokens as number;
    expect(performance.now() - started).toBeGreaterThanOrEqual(tokens * 10 - 5);

    const res = await post({ max_tokens: 12, stream: true });
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    const t0 = performance.now();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - t0);
    }
    expect(arrivals.length).toBeGreaterThan(Math.min(tokens, 3));
    expect(arrivals.at(-1)!).toBeGreaterThanOrEqual(tokens * 10 - 15);
  });

  it('counts concurrency, and close() cuts answers in flight instead of waiting for them', async () => {
    // The answers are due in about 24.8 days: if close() waited for them, this test would time out, and
    // any answer that did arrive would be a 200 rather than a cut connection.
    await start({ latencyMs: MAX_TIMER_MS });
    const inFlight = Array.from({ length: 5 }, () => post().catch((e: unknown) => e));
    while (mock!.stats().concurrency.current < 5) await new Promise((r) => setTimeout(r, 5));
    expect(mock!.stats().concurrency).toEqual({ current: 5, max: 5 });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await mock!.close();
    mock = undefined;
    const results = await Promise.all(inFlight);
    expect(results.every((r) => r instanceof Error)).toBe(true);
    // The five answers' timers were cancelled, not left to keep the process alive for 24 days.
    expect(timers()).toBeLessThanOrEqual(before - 5);
  });
});

describe('robustness', () => {
  it('turns an unexpected exception into a 500 for that request and keeps serving', async () => {
    let broken = true;
    await start({
      clock: {
        now: () => {
          if (broken) throw new Error('clock failure');
          return 0;
        },
      },
    });
    const res = await post();
    expect(res.status).toBe(500);
    expect((await res.json()).error.type).toBe('server_error');
    broken = false;
    expect((await post()).status).toBe(200);
  });
});
