/**
 * `@anthropic-ai/sdk` through createFetch(), against the emulator speaking Anthropic's dialect with
 * separate input- and output-token limits (ITPM, OTPM). The emulator charges `max_tokens` against the
 * output limit at admission and corrects it to the tokens generated (`settle: 'usage'`), as Anthropic
 * does; the limits are learned from its `anthropic-ratelimit-*` headers, never configured.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetch, type SluiceEvent } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

/** The SDK appends `/v1/messages` to its base URL; the emulator's URL ends in `/v1`. */
const origin = (url: string) => url.replace(/\/v1$/, '');

/** A prompt of about 2,100 input tokens (the emulator charges characters ÷ 4). */
const prompt = (i: number) => `question ${i}: ${'lorem ipsum '.repeat(700)}`;

describe('@anthropic-ai/sdk with createFetch()', () => {
  it('completes 30 concurrent messages under ITPM and OTPM: every one succeeds, the emulator refuses none', async () => {
    // 30 prompts of 2,100 input tokens: 63,000 against 60,000 ITPM, so the last ones wait for the
    // bucket; 30 maxes of 100 output tokens against 2,000 OTPM: 20 at once, the rest on the refunds of
    // what the first ones did not generate.
    mock = await startMock({
      flavor: 'anthropic',
      rpm: 0,
      tpm: 0,
      itpm: 60_000,
      otpm: 2000,
      settle: 'usage',
    });
    const events: SluiceEvent[] = [];
    const client = new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: origin(mock.url),
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client.messages.create({
          model: 'claude-sonnet-4-5',
          max_tokens: 100,
          messages: [{ role: 'user', content: prompt(i) }],
        }),
      ),
    );
    for (const r of replies) expect(r.content.length).toBeGreaterThan(0);
    const stats = mock.stats();
    expect(stats.admitted).toBe(30);
    expect(stats.rejected.total).toBe(0);
    const learned = events.filter((e) => e.type === 'limits_learned');
    const limits = Object.assign({}, ...learned.map((e) => e.limits)) as Record<string, number>;
    expect(limits['inputTokens/60000']).toBe(60_000);
    expect(limits['outputTokens/60000']).toBe(2000);
  });

  it('streams 20 concurrent messages under OTPM, settling each from its message_delta usage', async () => {
    // 20 maxes of 3,000 against 30,000 OTPM: only the refunds of what was not generated (about half)
    // let the second ten in without waiting a minute.
    mock = await startMock({ flavor: 'anthropic', rpm: 0, tpm: 0, otpm: 30_000, settle: 'usage' });
    const fetch = createFetch();
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: origin(mock.url), fetch, maxRetries: 0 });
    const finals = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const stream = client.messages.stream({
          model: 'claude-sonnet-4-5',
          max_tokens: 3000,
          messages: [{ role: 'user', content: `stream ${i}` }],
        });
        for await (const event of stream) void event;
        return stream.finalMessage();
      }),
    );
    for (const f of finals) expect(f.usage.output_tokens).toBeGreaterThan(0);
    expect(mock.stats().rejected.total).toBe(0);
    // Every stream's charge of 3,000 was settled to what it generated: the local output level is at
    // most what was generated (less what has drained since), never the 20 × 3,000 the maxes asked for.
    const [lane] = await fetch.engine.stats();
    const output = lane!.buckets.find((b) => b.dimension === 'outputTokens')!;
    const generated = finals.reduce((sum, f) => sum + f.usage.output_tokens, 0);
    expect(output.level).toBeLessThanOrEqual(generated + 1000);
    expect(output.level).toBeLessThan(20 * 3000 - 1000);
  });

  it('retries the emulator’s injected 500s and 529 overloaded answers: 20 messages all succeed', async () => {
    mock = await startMock({ flavor: 'anthropic', errorRate: 0.3, seed: 3 });
    const events: SluiceEvent[] = [];
    const client = new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: origin(mock.url),
      fetch: createFetch({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.messages.create({
          model: 'claude-sonnet-4-5',
          max_tokens: 5,
          messages: [{ role: 'user', content: `q${i}` }],
        }),
      ),
    );
    expect(replies).toHaveLength(20);
    const statuses = events.flatMap((e) => (e.type === 'answered' ? [e.status] : []));
    expect(statuses).toContain(529);
    expect(mock.stats().errors.injected).toBeGreaterThan(0);
  });

  it('retries an overloaded answer (529) and returns the success', async () => {
    let calls = 0;
    const upstream = await startMock({ flavor: 'anthropic' });
    mock = upstream;
    const client = new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: origin(upstream.url),
      fetch: createFetch({
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
        fetch: async (input, init) => {
          calls++;
          if (calls === 1)
            return new Response(
              JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
              { status: 529, headers: { 'content-type': 'application/json' } },
            );
          return globalThis.fetch(input, init);
        },
      }),
      maxRetries: 0,
    });
    const reply = await client.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.content.length).toBeGreaterThan(0);
    expect(calls).toBe(2);
  });
});
