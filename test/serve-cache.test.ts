/** The response cache in the gateway: per app from the config, per request by header, both shapes. */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseCache } from '../src/cache/cache.js';
import { parseConfig } from '../src/serve/config.js';
import { observer } from '../src/serve/observe/index.js';
import { sha256 } from '../src/serve/keys.js';
import { startRig, type GatewayRig } from './support/gateway.js';

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const ask = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: 'Tell me about rivers' }],
  max_tokens: 30,
};
const config = parseConfig(
  `keys:
  - name: docs-bot
    key_sha256: ${sha256('vk-docs')}
    upstream_key_env: UP
    cache: on
  - name: chat
    key_sha256: ${sha256('vk-chat')}
    upstream_key_env: UP
`,
  'sluice.yaml',
  { UP: 'sk-upstream' },
);

describe('the gateway’s response cache', () => {
  it('answers an app with cache: on from the cache, and leaves an app without it alone', async () => {
    rig = await startRig({}, { config, cache: new ResponseCache() });
    const docs = new OpenAI({ apiKey: 'vk-docs', baseURL: rig.base, maxRetries: 0 });
    const chat = new OpenAI({ apiKey: 'vk-chat', baseURL: rig.base, maxRetries: 0 });
    const first = await docs.chat.completions.create(ask).withResponse();
    const second = await docs.chat.completions.create(ask).withResponse();
    expect(first.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(second.response.headers.get('x-sluice-cache')).toBe('hit');
    expect(second.data).toEqual(first.data);
    // The other app does not see docs-bot's entry, and does not use the cache unless it asks.
    const other = await chat.chat.completions.create(ask).withResponse();
    expect(other.response.headers.get('x-sluice-cache')).toBe('bypass');
    const asked = await chat.chat.completions
      .create(ask, { headers: { 'x-sluice-cache': 'on' } })
      .withResponse();
    expect(asked.response.headers.get('x-sluice-cache')).toBe('miss');
    expect(rig.mock.stats().received).toBe(3);
    expect(rig.records.filter((r) => r.outcome === 'cache_hit')).toHaveLength(1);
  });

  it('serves a streamed request from a plain answer, as several chunks ending in [DONE]', async () => {
    rig = await startRig({}, { cache: new ResponseCache(), cacheByDefault: true });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const json = await client.chat.completions.create(ask);
    const stream = await client.chat.completions
      .create({ ...ask, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    expect(stream.response.headers.get('x-sluice-cache')).toBe('hit');
    let content = '';
    let chunks = 0;
    let usage: unknown;
    for await (const chunk of stream.data) {
      chunks++;
      content += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(content).toBe(json.choices[0]!.message.content);
    expect(usage).toEqual(json.usage);
    expect(rig.mock.stats().received).toBe(1);
  });

  it('coalesces identical requests in flight', async () => {
    rig = await startRig({ latencyMs: 50 }, { cache: new ResponseCache(), cacheByDefault: true });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.chat.completions.create(ask)));
    expect(rig.mock.stats().received).toBe(1);
    for (const a of answers) expect(a).toEqual(answers[0]);
  });

  it('refuses a bad x-sluice-cache value with 400', async () => {
    rig = await startRig({}, { cache: new ResponseCache() });
    const res = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-test',
        'content-type': 'application/json',
        'x-sluice-cache': 'sometimes',
      },
      body: JSON.stringify(ask),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_option' } });
  });
});

describe('the cache in metrics and stats', () => {
  it('counts hits, misses and tokens saved in /metrics and /api/stats', async () => {
    rig = await startRig({}, { cache: new ResponseCache(), cacheByDefault: true, observe: observer() });
    const client = new OpenAI({ apiKey: 'sk-test', baseURL: rig.base, maxRetries: 0 });
    const first = await client.chat.completions.create(ask);
    await client.chat.completions.create(ask);
    const metrics = await (await fetch(`${rig.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_cache_hits_total 1/);
    expect(metrics).toMatch(/sluice_cache_misses_total 1/);
    expect(metrics).toContain(`sluice_cache_tokens_saved_total ${first.usage!.total_tokens}`);
    const stats = (await (await fetch(`${rig.gateway.url}/api/stats`)).json()) as { cache: unknown };
    expect(stats.cache).toMatchObject({
      hits: 1,
      misses: 1,
      hitRate: 0.5,
      tokensSaved: first.usage!.total_tokens,
    });
  });
});
