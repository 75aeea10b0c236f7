/**
 * Providers and endpoints beyond chat completions, each with its own client through createFetch(),
 * against the emulator speaking the provider's dialect: Azure OpenAI (`AzureOpenAI`), the Responses
 * API, embeddings with array inputs, and LangChain.js.
 */
import { ChatOpenAI } from '@langchain/openai';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createFetch, type SluiceEvent } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

const origin = (url: string) => url.replace(/\/v1$/, '');
const ofType = <T extends SluiceEvent['type']>(events: SluiceEvent[], type: T) =>
  events.filter((e): e is Extract<SluiceEvent, { type: T }> => e.type === type);

function azure(deployment: string, fetch: typeof globalThis.fetch, apiVersion = '2024-10-21') {
  return new AzureOpenAI({
    endpoint: origin(mock!.url),
    apiKey: 'azure-key',
    apiVersion,
    deployment,
    fetch,
    maxRetries: 0,
  });
}

const chat = (i: number) => ({
  model: 'gpt-4o',
  messages: [{ role: 'user' as const, content: `q${i}` }],
  max_tokens: 5,
});

describe('Azure OpenAI (AzureOpenAI client) with createFetch()', () => {
  it('paces 30 concurrent calls on a deployment: all succeed, the emulator refuses at most one', async () => {
    mock = await startMock({
      flavor: 'azure',
      rpm: 600,
      tpm: 1_000_000,
      burstSeconds: 1,
      keys: ['azure-key'],
    });
    const events: SluiceEvent[] = [];
    const client = azure('prod-4o', createFetch({ onEvent: (e) => events.push(e) }));
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => client.chat.completions.create(chat(i))),
    );
    for (const r of replies) expect(r.choices[0]!.message.content).toBeTruthy();
    expect(mock.stats().rejected.total).toBeLessThanOrEqual(1);
    // The deployment in the path names the lane, whatever model the body says; the api-key header is the key.
    expect(new Set(ofType(events, 'admitted').map((e) => e.lane.split('|').at(-1)))).toEqual(
      new Set(['prod-4o']),
    );
  });

  it('keeps one lane per deployment: a full one does not hold up another', async () => {
    // One request per second per deployment: the second call on `a` waits for it, `b` does not.
    mock = await startMock({ flavor: 'azure', rpm: 60, tpm: 0, burstSeconds: 1 });
    const events: SluiceEvent[] = [];
    const fetch = createFetch({ onEvent: (e) => events.push(e) });
    await azure('a', fetch).chat.completions.create(chat(0));
    await Promise.all([
      azure('a', fetch).chat.completions.create(chat(1)),
      azure('b', fetch).chat.completions.create(chat(2)),
    ]);
    const waited = (deployment: string) =>
      ofType(events, 'admitted')
        .filter((e) => e.lane.endsWith(`|${deployment}`))
        .map((e) => e.waitedMs);
    // `a`'s second call waited for its bucket (about a second); `b`'s first did not wait for `a`'s.
    expect(waited('a')[1]).toBeGreaterThan(500);
    expect(waited('b')).toHaveLength(1);
    expect(waited('b')[0]).toBeLessThan(waited('a')[1]!);
    const lanes = (await fetch.engine.stats()).map((l) => l.model).sort();
    expect(lanes).toEqual(['a', 'b']);
    expect(mock.stats().rejected.total).toBe(0);
  });

  it('waits the retry-after-ms of an Azure 429 and succeeds', async () => {
    mock = await startMock({ flavor: 'azure', rpm: 60, tpm: 0, burstSeconds: 1 });
    const events: SluiceEvent[] = [];
    // Limits not learned: the engine sends both at once and meets the server's 429.
    const fetch = createFetch({ learnLimits: false, onEvent: (e) => events.push(e) });
    const replies = await Promise.all([0, 1].map((i) => azure('d', fetch).chat.completions.create(chat(i))));
    expect(replies).toHaveLength(2);
    const [limited] = ofType(events, 'rate_limited');
    expect(limited).toBeDefined();
    // retry-after-ms is fractional milliseconds; retry-after would have said whole seconds.
    expect(limited!.waitMs).toBeGreaterThan(0);
    expect(limited!.waitMs).toBeLessThanOrEqual(1000);
    expect(mock.stats().rejected.total).toBe(1);
  });
});

describe('OpenAI Responses API with createFetch()', () => {
  it('charges instructions + input + max_output_tokens at admission, exactly as the server does', async () => {
    mock = await startMock({});
    const events: SluiceEvent[] = [];
    const client = new OpenAI({
      apiKey: 'sk-r',
      baseURL: mock.url,
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const r = await client.responses.create({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: [{ role: 'user', content: 'Tell me about rate limits.' }],
      max_output_tokens: 40,
    });
    expect(r.output_text.length).toBeGreaterThan(0);
    const [admitted] = ofType(events, 'admitted');
    expect(admitted!.tokens).toBe(Math.ceil('Be brief.Tell me about rate limits.'.length / 4) + 40);
    expect(admitted!.tokens).toBe(mock.stats().tokens.charged);
  });

  it('streams its events through unchanged and settles a request without a max from response.completed', async () => {
    mock = await startMock({ settle: 'usage' });
    const events: SluiceEvent[] = [];
    const client = new OpenAI({
      apiKey: 'sk-r',
      baseURL: mock.url,
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const stream = await client.responses.create({ model: 'gpt-4.1', input: 'Hello there', stream: true });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toMatch(/^response\.(completed|incomplete)$/);
    expect(text.length).toBeGreaterThan(0);
    const [settled] = ofType(events, 'settled');
    const stats = mock.stats();
    expect(settled!.actualTokens).toBe(stats.tokens.prompt + stats.tokens.completion);
    expect(settled!.estimatedTokens).toBe(Math.ceil('Hello there'.length / 4) + 64);
  });
});

describe('embeddings with array inputs through createFetch()', () => {
  it('charges the sum of every input, and of token arrays, as the server does', async () => {
    mock = await startMock({});
    const events: SluiceEvent[] = [];
    const client = new OpenAI({
      apiKey: 'sk-e',
      baseURL: mock.url,
      fetch: createFetch({ onEvent: (e) => events.push(e) }),
      maxRetries: 0,
    });
    const strings = ['first input', 'a second, longer input', 'three'];
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: strings });
    expect(r.data).toHaveLength(3);
    await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: [
        [1, 2, 3],
        [4, 5],
      ],
    });
    const admitted = ofType(events, 'admitted').map((e) => e.tokens);
    expect(admitted).toEqual([Math.ceil(strings.join('').length / 4), Math.ceil(5 / 4)]);
    expect(admitted[0]! + admitted[1]!).toBe(mock.stats().tokens.charged);
  });
});

describe('LangChain.js (@langchain/openai) with createFetch()', () => {
  it('invokes the chat model through it: 20 calls paced under the limit, every one succeeded', async () => {
    mock = await startMock({ rpm: 600, burstSeconds: 1 });
    const events: SluiceEvent[] = [];
    const model = new ChatOpenAI({
      model: 'gpt-4o-mini',
      apiKey: 'sk-lc',
      maxRetries: 0,
      maxTokens: 20,
      configuration: { baseURL: mock.url, fetch: createFetch({ onEvent: (e) => events.push(e) }) },
    });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => model.invoke(`hello ${i}`)));
    for (const r of replies) expect(String(r.content).length).toBeGreaterThan(0);
    expect(ofType(events, 'admitted')).toHaveLength(20);
    expect(mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });
});
