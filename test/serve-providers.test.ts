/**
 * Providers and endpoints beyond chat completions through `sluice serve`, each with its own client
 * against the emulator: the Responses API (costed, streamed, settled), embeddings with array inputs,
 * Azure's `retry-after-ms`, and Anthropic's separate input- and output-token limits.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { SluiceEvent } from '../src/index.js';
import { startRig, type GatewayRig } from './support/gateway.js';

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const ofType = <T extends SluiceEvent['type']>(events: SluiceEvent[], type: T) =>
  events.filter((e): e is Extract<SluiceEvent, { type: T }> => e.type === type);

describe('the Responses API through the gateway', () => {
  it('charges instructions + input + max_output_tokens at admission, exactly as the server does', async () => {
    const events: SluiceEvent[] = [];
    rig = await startRig({}, { engine: { onEvent: (e) => events.push(e) } });
    const client = new OpenAI({ apiKey: 'sk-r', baseURL: rig.base, maxRetries: 0 });
    const r = await client.responses.create({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: 'Tell me about rate limits.',
      max_output_tokens: 40,
    });
    expect(r.output_text.length).toBeGreaterThan(0);
    const [admitted] = ofType(events, 'admitted');
    expect(admitted!.tokens).toBe(Math.ceil('Be brief.Tell me about rate limits.'.length / 4) + 40);
    expect(admitted!.tokens).toBe(rig.mock.stats().tokens.charged);
  });

  it('streams 10 concurrent responses event by event and settles each from response.completed', async () => {
    const events: SluiceEvent[] = [];
    rig = await startRig({ settle: 'usage' }, { engine: { onEvent: (e) => events.push(e) } });
    const client = new OpenAI({ apiKey: 'sk-r', baseURL: rig.base, maxRetries: 0 });
    const texts = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const stream = await client.responses.create({ model: 'gpt-4.1', input: `Hello ${i}`, stream: true });
        let text = '';
        let last = '';
        for await (const event of stream) {
          last = event.type;
          if (event.type === 'response.output_text.delta') text += event.delta;
        }
        expect(last).toMatch(/^response\.(completed|incomplete)$/);
        return text;
      }),
    );
    for (const t of texts) expect(t.length).toBeGreaterThan(0);
    const settled = ofType(events, 'settled');
    expect(settled).toHaveLength(10);
    const stats = rig.mock.stats();
    expect(settled.reduce((sum, e) => sum + e.actualTokens, 0)).toBe(
      stats.tokens.prompt + stats.tokens.completion,
    );
  });
});

describe('embeddings with array inputs through the gateway', () => {
  it('charges the sum of every input, as the server does', async () => {
    const events: SluiceEvent[] = [];
    rig = await startRig({}, { engine: { onEvent: (e) => events.push(e) } });
    const client = new OpenAI({ apiKey: 'sk-e', baseURL: rig.base, maxRetries: 0 });
    const inputs = Array.from({ length: 16 }, (_, i) => `document number ${i} `.repeat(i + 1));
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs });
    expect(r.data).toHaveLength(16);
    const [admitted] = ofType(events, 'admitted');
    expect(admitted!.tokens).toBe(Math.ceil(inputs.join('').length / 4));
    expect(admitted!.tokens).toBe(rig.mock.stats().tokens.charged);
  });
});

describe('Azure OpenAI through the gateway', () => {
  it("waits an Azure 429's retry-after-ms and answers the success", async () => {
    const events: SluiceEvent[] = [];
    rig = await startRig(
      { flavor: 'azure', rpm: 60, tpm: 0, burstSeconds: 1 },
      { flavor: 'azure', engine: { learnLimits: false, onEvent: (e) => events.push(e) } },
    );
    const client = new AzureOpenAI({
      endpoint: rig.gateway.url,
      apiKey: 'azure-key',
      apiVersion: '2024-10-21',
      deployment: 'd',
      maxRetries: 0,
    });
    const ask = (i: number) =>
      client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `q${i}` }],
        max_tokens: 3,
      });
    const replies = await Promise.all([ask(0), ask(1)]);
    expect(replies).toHaveLength(2);
    const [limited] = ofType(events, 'rate_limited');
    expect(limited!.waitMs).toBeGreaterThan(0);
    expect(limited!.waitMs).toBeLessThanOrEqual(1000);
    expect(rig.mock.stats().rejected.total).toBe(1);
  });
});

describe('Anthropic through the gateway', () => {
  it('paces 20 concurrent messages under learned ITPM and OTPM: all succeed, the emulator refuses none', async () => {
    rig = await startRig(
      { flavor: 'anthropic', rpm: 0, tpm: 0, itpm: 60_000, otpm: 2000, settle: 'usage' },
      { flavor: 'anthropic' },
    );
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: rig.gateway.url, maxRetries: 0 });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.messages.create({
          model: 'claude-sonnet-4-5',
          max_tokens: 150,
          messages: [{ role: 'user', content: `question ${i}: ${'lorem ipsum '.repeat(500)}` }],
        }),
      ),
    );
    for (const r of replies) expect(r.content.length).toBeGreaterThan(0);
    const stats = rig.mock.stats();
    expect(stats.admitted).toBe(20);
    expect(stats.rejected.total).toBe(0);
  });
});
