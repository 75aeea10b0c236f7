/**
 * The limits probe (`src/protocol/limits.ts`) against the emulator in every flavor, and against small
 * servers answering as the providers do when something is wrong.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { flavorOf, probeLimits, probeRequest, type LimitReading } from '../src/protocol/limits.js';
import { json, startServer, type TestServer } from './support/server.js';

let mock: MockServer | undefined;
let server: TestServer | undefined;
afterEach(async () => {
  await mock?.close();
  await server?.close();
  mock = undefined;
  server = undefined;
});

const origin = (url: string) => url.replace(/\/v1$/, '');
const byName = (limits: LimitReading[]): Record<string, LimitReading> =>
  Object.fromEntries(limits.map((l) => [l.name, l]));

describe('probeLimits against the emulator', () => {
  it('openai: RPM and TPM with what remains and when full, from one request of max 1 token', async () => {
    mock = await startMock({ rpm: 500, tpm: 200_000 });
    const r = await probeLimits({ baseUrl: mock.url, apiKey: 'sk-a' }, 'gpt-4o-mini');
    expect(r).toMatchObject({ status: 200, outcome: 'success' });
    expect(r.problem).toBeUndefined();
    const limits = byName(r.limits);
    expect(limits['RPM']).toMatchObject({ limit: 500, remaining: 499, windowMs: 60_000 });
    expect(limits['TPM']).toMatchObject({ limit: 200_000 });
    expect(limits['TPM']!.fullInMs).toBeGreaterThanOrEqual(0);
    expect(r.notLearned.join(' ')).toContain('RPD, TPD');
    expect(mock.stats().admitted).toBe(1);
    // Charged the prompt of one character and a max of one token: the cheapest there is.
    expect(200_000 - (limits['TPM']!.remaining ?? 0)).toBeLessThanOrEqual(2);
  });

  it('openai: an embedding model gets one input string', async () => {
    mock = await startMock({});
    const r = await probeLimits({ baseUrl: mock.url, apiKey: 'sk-a' }, 'text-embedding-3-small');
    expect(r.url).toMatch(/\/v1\/embeddings$/);
    expect(r.outcome).toBe('success');
    expect(byName(r.limits)['RPM']).toMatchObject({ limit: 500 });
  });

  it('openai: a per-day bucket is told by its reset', async () => {
    mock = await startMock({ rpm: 0, tpm: 0, rpd: 100 });
    const r = await probeLimits({ baseUrl: mock.url, apiKey: 'sk-a' }, 'gpt-4o-mini');
    const rpd = byName(r.limits)['RPD'];
    expect(rpd).toMatchObject({ limit: 100, remaining: 99, windowMs: 86_400_000 });
  });

  it('anthropic: RPM, ITPM and OTPM from a one-token messages call', async () => {
    mock = await startMock({ flavor: 'anthropic', rpm: 50, tpm: 0, itpm: 30_000, otpm: 8000 });
    const r = await probeLimits(
      { baseUrl: origin(mock.url), apiKey: 'sk-ant', flavor: 'anthropic' },
      'claude-haiku-4-5',
    );
    expect(r.url).toBe(`${origin(mock.url)}/v1/messages`);
    expect(r.outcome).toBe('success');
    const limits = byName(r.limits);
    expect(limits['RPM']).toMatchObject({ limit: 50, remaining: 49 });
    expect(limits['ITPM']).toMatchObject({ limit: 30_000 });
    expect(limits['OTPM']).toMatchObject({ limit: 8000 });
    expect(r.notLearned).toEqual([]);
    expect(mock.stats().admitted).toBe(1);
  });

  it('azure: the deployment path, api-key and api-version', async () => {
    mock = await startMock({ flavor: 'azure', rpm: 600, tpm: 100_000, keys: ['az-key'] });
    const r = await probeLimits(
      { baseUrl: origin(mock.url), apiKey: 'az-key', flavor: 'azure', apiVersion: '2024-06-01' },
      'prod-4o',
    );
    expect(r.url).toBe(
      `${origin(mock.url)}/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01`,
    );
    expect(r.outcome).toBe('success');
    expect(byName(r.limits)['RPM']).toMatchObject({ limit: 600, remaining: 599 });
    expect(byName(r.limits)['TPM']!.fullInMs! % 1000).toBe(0); // Azure's whole seconds
  });

  it('tells an invalid key, without retrying', async () => {
    mock = await startMock({ keys: ['good'] });
    const r = await probeLimits({ baseUrl: mock.url, apiKey: 'bad' }, 'gpt-4o-mini');
    expect(r).toMatchObject({ status: 401, outcome: 'fatal', problem: { kind: 'invalid_key' } });
    expect(mock.stats().received).toBe(1);
  });

  it('tells an exhausted quota (openai insufficient_quota, anthropic credit balance)', async () => {
    mock = await startMock({ quotaRequests: 0 });
    const openai = await probeLimits({ baseUrl: mock.url, apiKey: 'k' }, 'gpt-4o-mini');
    expect(openai.problem).toMatchObject({ kind: 'quota_exhausted' });
    await mock.close();
    mock = await startMock({ flavor: 'anthropic', quotaRequests: 0 });
    const anthropic = await probeLimits(
      { baseUrl: origin(mock.url), apiKey: 'k', flavor: 'anthropic' },
      'claude-haiku-4-5',
    );
    expect(anthropic).toMatchObject({ status: 400, problem: { kind: 'quota_exhausted' } });
    expect(anthropic.problem!.message).toContain('credit balance');
  });

  it('reports a full limit (429) with its headers and wait, and sends nothing more', async () => {
    mock = await startMock({ rpm: 1, tpm: 0 });
    await probeLimits({ baseUrl: mock.url, apiKey: 'k' }, 'gpt-4o-mini');
    const r = await probeLimits({ baseUrl: mock.url, apiKey: 'k' }, 'gpt-4o-mini');
    expect(r).toMatchObject({ status: 429, outcome: 'rate_limited', problem: { kind: 'rate_limited' } });
    expect(r.retryAfterMs).toBeGreaterThan(0);
    expect(byName(r.limits)['RPM']).toMatchObject({ limit: 1, remaining: 0 });
    expect(mock.stats().received).toBe(2);
  });
});

describe('probeLimits against other answers', () => {
  it('says so when the answer carries no rate-limit headers (Gemini, many compatible servers)', async () => {
    server = await startServer((_req, res) =>
      json(res, 200, { id: 'x', choices: [{ message: { role: 'assistant', content: '.' } }] }),
    );
    const r = await probeLimits({ baseUrl: `${server.url}/v1beta/openai`, apiKey: 'k' }, 'gemini-2.5-flash');
    expect(r.limits).toEqual([]);
    expect(r.notLearned[0]).toContain('no rate-limit headers');
    expect(server.requests).toHaveLength(1);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ max_tokens: 1 });
  });

  it('reads Gemini RESOURCE_EXHAUSTED with its RetryInfo as a full limit', async () => {
    server = await startServer((_req, res) =>
      json(res, 429, [
        {
          error: {
            code: 429,
            message: 'You exceeded your current quota. Please retry in 33.8s.',
            status: 'RESOURCE_EXHAUSTED',
            details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '33s' }],
          },
        },
      ]),
    );
    const r = await probeLimits({ baseUrl: `${server.url}/v1beta/openai`, apiKey: 'k' }, 'gemini-2.5-flash');
    expect(r).toMatchObject({ status: 429, problem: { kind: 'rate_limited' } });
    expect(r.retryAfterMs).toBe(33_800);
  });

  it('tells a model that does not exist, and a server that cannot be reached', async () => {
    server = await startServer((_req, res) =>
      json(res, 404, { error: { message: 'The model `nope` does not exist', code: 'model_not_found' } }),
    );
    const missing = await probeLimits({ baseUrl: server.url, apiKey: 'k' }, 'nope');
    expect(missing.problem).toMatchObject({ kind: 'model_not_found' });
    const url = server.url;
    await server.close();
    server = undefined;
    const gone = await probeLimits({ baseUrl: url, apiKey: 'k' }, 'gpt-4o-mini');
    expect(gone).toMatchObject({ outcome: 'unreachable', problem: { kind: 'unreachable' } });
  });
});

describe('probeRequest', () => {
  it('uses max_completion_tokens at OpenAI and max_tokens at compatible servers', () => {
    const official = probeRequest({ baseUrl: 'https://api.openai.com/v1', apiKey: 'k' }, 'o4-mini');
    expect(JSON.parse(official.body)).toMatchObject({ max_completion_tokens: 1 });
    const groq = probeRequest({ baseUrl: 'https://api.groq.com/openai/v1', apiKey: 'k' }, 'llama');
    expect(groq.url).toBe('https://api.groq.com/openai/v1/chat/completions');
    expect(JSON.parse(groq.body)).toMatchObject({ max_tokens: 1 });
  });

  it('tells the flavor from the host', () => {
    expect(flavorOf('https://api.anthropic.com')).toBe('anthropic');
    expect(flavorOf('https://my-res.openai.azure.com/openai')).toBe('azure');
    expect(flavorOf('https://api.together.xyz/v1')).toBe('openai');
  });
});
