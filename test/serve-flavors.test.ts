/**
 * Upstream flavors through the gateway, each with its provider's own SDK against the emulator speaking
 * that dialect: Azure OpenAI (deployment paths, `api-key`, `api-version`, integer-second resets) and
 * Anthropic (`/v1/messages`, `x-api-key`, `anthropic-ratelimit-*`).
 */
import Anthropic from '@anthropic-ai/sdk';
import { AzureOpenAI } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/serve/config.js';
import { sha256 } from '../src/serve/keys.js';
import { startRig, type GatewayRig } from './support/gateway.js';

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('Azure OpenAI through the gateway', () => {
  it('paces 30 concurrent chat calls on a deployment: all succeed, the emulator refuses at most one', async () => {
    rig = await startRig({ flavor: 'azure', rpm: 600, tpm: 1_000_000, burstSeconds: 1 }, { flavor: 'azure' });
    const client = new AzureOpenAI({
      endpoint: rig.gateway.url,
      apiKey: 'azure-key',
      apiVersion: '2024-10-21',
      deployment: 'prod-4o',
      maxRetries: 0,
    });
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client.chat.completions.create({
          model: 'gpt-4o',
          messages: [{ role: 'user', content: `q${i}` }],
          max_tokens: 5,
        }),
      ),
    );
    for (const r of replies) expect(r.choices[0]!.message.content).toBeTruthy();
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
    // Lanes are per deployment: the path names it, whatever the body says.
    expect(rig.records.every((r) => r.lane?.endsWith('|prod-4o'))).toBe(true);
  });

  it('sends the upstream key as api-key for a virtual key', async () => {
    const config = parseConfig(
      `flavor: azure\nkeys:\n  - name: app\n    key_sha256: ${sha256('vk-azure-app')}\n    upstream_key_env: AZ\n`,
      'sluice.yaml',
      { AZ: 'real-azure-key' },
    );
    rig = await startRig({ flavor: 'azure', keys: ['real-azure-key'] }, { config });
    const client = new AzureOpenAI({
      endpoint: rig.gateway.url,
      apiKey: 'vk-azure-app',
      apiVersion: '2024-10-21',
      deployment: 'prod-4o',
      maxRetries: 0,
    });
    const reply = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
    expect(reply.choices[0]!.message.content).toBeTruthy();
  });
});

describe('Anthropic through the gateway', () => {
  it('paces 30 concurrent messages calls: all succeed, the emulator refuses at most one', async () => {
    rig = await startRig(
      { flavor: 'anthropic', rpm: 600, tpm: 1_000_000, burstSeconds: 1 },
      { flavor: 'anthropic' },
    );
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: rig.gateway.url, maxRetries: 0 });
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client.messages.create({
          model: 'claude-sonnet-4-5',
          max_tokens: 5,
          messages: [{ role: 'user', content: `q${i}` }],
        }),
      ),
    );
    for (const r of replies) expect(r.content.length).toBeGreaterThan(0);
    expect(rig.mock.stats().rejected.total).toBeLessThanOrEqual(1);
  });

  it('streams a message through, events as the emulator sent them', async () => {
    rig = await startRig({ flavor: 'anthropic', msPerToken: 1 }, { flavor: 'anthropic' });
    const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: rig.gateway.url, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 20,
      messages: [{ role: 'user', content: 'stream' }],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types[0]).toBe('message_start');
    expect(types).toContain('content_block_delta');
    expect(types.at(-1)).toBe('message_stop');
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });
});
