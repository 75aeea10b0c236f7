/**
 * Real clients through `sluice serve` against the emulator, at concurrency far above the limit: the
 * `openai` SDK (v6 on Node.js 20, v7 on 22) with `maxRetries: 0`, streaming and not; the Vercel AI SDK;
 * LangChain.js; and curl, a client that is not Node at all.
 */
import { spawn } from 'node:child_process';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateText } from 'ai';
import type OpenAIType from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startRig, type GatewayRig } from './support/gateway.js';

const major = Number(process.versions.node.split('.')[0]);
const { default: OpenAI } = (await import(major >= 22 ? 'openai7' : 'openai')) as {
  default: typeof OpenAIType;
};

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const ask = (content: string) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  max_tokens: 20,
});

describe(`openai SDK ${major >= 22 ? 'v7' : 'v6'} through the gateway`, () => {
  it('completes 40 concurrent requests against a limit of 10 at once: every one succeeds, the emulator refuses at most one', async () => {
    // 600 RPM with a 1 s burst: 10 at once, then 10 per second.
    rig = await startRig({ rpm: 600, tpm: 1_000_000, burstSeconds: 1 });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => client.chat.completions.create(ask(`question ${i}`))),
    );
    for (const r of replies) expect(r.choices[0]!.message.content).toBeTruthy();
    const stats = rig.mock.stats();
    expect(stats.admitted).toBe(40);
    // The first answer teaches the limits; at most one refusal before that.
    expect(stats.rejected.total).toBeLessThanOrEqual(1);
    expect(rig.records.filter((r) => r.outcome === 'success')).toHaveLength(40);
  });

  it('streams 20 concurrent answers, each chunk by chunk with its usage, under the limit', async () => {
    rig = await startRig({ rpm: 600, tpm: 1_000_000, burstSeconds: 1, msPerToken: 1 });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const stream = await client.chat.completions.create({
          ...ask(`stream ${i}`),
          stream: true,
          stream_options: { include_usage: true },
        });
        let chunks = 0;
        let usage: unknown;
        for await (const chunk of stream) {
          chunks++;
          if (chunk.usage) usage = chunk.usage;
        }
        return { chunks, usage };
      }),
    );
    for (const r of results) {
      expect(r.chunks).toBeGreaterThan(2);
      expect(r.usage).toMatchObject({ completion_tokens: expect.any(Number) });
    }
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });

  it('passes a quota error through unchanged and fast, and fails queued requests at once', async () => {
    rig = await startRig({ quotaRequests: 1, rpm: 60, burstSeconds: 1 });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    await client.chat.completions.create(ask('the one that fits'));
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => client.chat.completions.create(ask(`q${i}`))),
    );
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.RateLimitError>;
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      // The upstream's own body: its code, not a Sluice one.
      expect(err.code).toBe('insufficient_quota');
      expect(err.headers.get('x-sluice-error-code')).toBe('quota_exhausted');
    }
    // One went upstream and met the quota; the others failed fast without being sent.
    expect(rig.mock.stats().received).toBe(2);
  });

  it('keeps the upstream’s client errors (400, 401) as they were', async () => {
    rig = await startRig({ keys: ['sk-test'] });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const bad = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    const direct = await fetch(`${rig.mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
    }).then((r) => r.json());
    expect((bad as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual(
      (direct as { error: unknown }).error,
    );
    const stranger = new OpenAI({ apiKey: 'sk-wrong', baseURL: rig.base, maxRetries: 0 });
    const refused = await stranger.chat.completions.create(ask('x')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((refused as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
  });
});

describe('other clients through the gateway', () => {
  it('Vercel AI SDK: generates text', async () => {
    rig = await startRig({ rpm: 600, burstSeconds: 1 });
    const openai = createOpenAI({ apiKey: 'sk-test', baseURL: rig.base });
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        generateText({ model: openai.chat('gpt-4o-mini'), prompt: `hello ${i}`, maxRetries: 0 }),
      ),
    );
    for (const r of results) expect(r.text.length).toBeGreaterThan(0);
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });

  it('LangChain.js (@langchain/openai): invokes the chat model', async () => {
    rig = await startRig({ rpm: 600, burstSeconds: 1 });
    const model = new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: 'sk-test',
      maxRetries: 0,
      maxTokens: 20,
      configuration: { baseURL: rig.base },
    });
    const replies = await Promise.all(Array.from({ length: 15 }, (_, i) => model.invoke(`hello ${i}`)));
    for (const r of replies) expect(String(r.content).length).toBeGreaterThan(0);
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });

  it('curl: 15 concurrent requests from processes that know nothing of Sluice all succeed', async () => {
    rig = await startRig({ rpm: 600, burstSeconds: 1 });
    const body = JSON.stringify(ask('from curl'));
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('curl', [
          '-sS',
          '-w',
          '\\n%{http_code}',
          `${rig!.base}/chat/completions`,
          '-H',
          'authorization: Bearer sk-test',
          '-H',
          'content-type: application/json',
          '-d',
          body,
        ]);
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.on('close', (code) => resolve({ code, out }));
      });
    const results = await Promise.all(Array.from({ length: 15 }, run));
    for (const r of results) {
      expect(r.code).toBe(0);
      const [json, status] = [
        r.out.slice(0, r.out.lastIndexOf('\n')),
        r.out.slice(r.out.lastIndexOf('\n') + 1),
      ];
      expect(status).toBe('200');
      expect(JSON.parse(json).choices[0].message.content).toBeTruthy();
    }
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });
});

describe('a client that goes away', () => {
  it('while queued: its request is never sent upstream', async () => {
    rig = await startRig({ rpm: 60, burstSeconds: 1 }, { limits: { rpm: 60, burstMs: 1000 } });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    await client.chat.completions.create(ask('first'));
    const controller = new AbortController();
    const queued = client.chat.completions.create(ask('second'), { signal: controller.signal });
    // Wait until the gateway has it queued, then hang up.
    await until(() => rig!.gateway.active === 1);
    controller.abort();
    await expect(queued).rejects.toThrow();
    await until(() => rig!.gateway.active === 0);
    expect(rig.records.at(-1)!.outcome).toBe('client_closed');
    expect(rig.mock.stats().received).toBe(1);
  });

  it('while streaming: its concurrency slot is freed for the next request', async () => {
    // One request at a time; a long stream that the client abandons after its first chunk.
    rig = await startRig({ msPerToken: 20 }, { limits: { maxConcurrency: 1 } });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { ...ask('long'), max_tokens: 1000, stream: true },
      { signal: controller.signal },
    );
    for await (const _chunk of stream) break;
    controller.abort();
    const next = await client.chat.completions.create({ ...ask('next'), max_tokens: 3 });
    expect(next.choices[0]!.message.content).toBeTruthy();
    // The abandoned stream was cut upstream too: the emulator is not still generating for it.
    await until(() => rig!.mock.stats().concurrency.current === 0);
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
}
