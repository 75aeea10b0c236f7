import { describe, expect, it } from 'vitest';
import { adaptRequest, type WireRequest } from './adapt.js';
import { keyFingerprint } from './lane.js';

const headers = (record: Record<string, string> = {}) => {
  const h = new Headers(record);
  return { get: (name: string) => h.get(name) };
};

const chat = (body: Record<string, unknown>, extra: Partial<WireRequest> = {}): WireRequest => ({
  method: 'POST',
  url: 'https://api.example.com/v1/chat/completions',
  headers: headers({ authorization: 'Bearer sk-one' }),
  body: JSON.stringify(body),
  ...extra,
});

describe('adaptRequest', () => {
  it('builds the lane from the upstream origin, the key fingerprint and the model', () => {
    const a = adaptRequest(chat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'abcd' }] }));
    expect(a.llm).toBe(true);
    expect(a.kind).toBe('chat');
    expect(a.request.lane).toEqual({
      upstream: 'https://api.example.com',
      keyFingerprint: keyFingerprint('sk-one'),
      model: 'gpt-4o-mini',
    });
    expect(JSON.stringify(a)).not.toContain('sk-one');
  });

  it('costs the prompt by characters and the completion by the max, n times', () => {
    const a = adaptRequest(
      chat({ model: 'm', n: 3, max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(41) }] }),
    );
    expect(a.request.cost).toEqual({ promptTokens: 11, completionTokens: 30, n: 3, maxGiven: true });
  });

  it('leaves the completion of a request without a max to the engine (n × typical)', () => {
    const a = adaptRequest(chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
    expect(a.request.cost).toMatchObject({ completionTokens: 0, n: 1, maxGiven: false });
  });

  it('gives embeddings no completion part', () => {
    const a = adaptRequest(
      chat({ model: 'e', input: ['abcd', 'efgh'] }, { url: 'https://api.example.com/v1/embeddings' }),
    );
    expect(a.request.cost).toEqual({ promptTokens: 2, completionTokens: 0, n: 1, maxGiven: true });
  });

  it('costs a prompt far longer than an error body (regression: bodies over 64 KiB were costed as 0 tokens)', () => {
    const a = adaptRequest(
      chat({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'y'.repeat(400_000) }] }),
    );
    expect(a.llm).toBe(true);
    expect(a.request.cost.promptTokens).toBe(100_000);
    expect(a.request.lane.model).toBe('m');
  });

  it('accepts the body as bytes or as an already parsed object, with the same result', () => {
    const body = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hello' }] };
    const fromText = adaptRequest(chat(body));
    const fromBytes = adaptRequest(chat(body, { body: new TextEncoder().encode(JSON.stringify(body)) }));
    const fromObject = adaptRequest(chat(body, { body }));
    expect(fromBytes.request).toEqual(fromText.request);
    expect(fromObject.request).toEqual(fromText.request);
  });

  it('names the Azure deployment as the model, whatever the body says', () => {
    const a = adaptRequest(
      chat(
        { messages: [{ role: 'user', content: 'hi' }] },
        {
          url: 'https://r.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21',
          headers: headers({ 'api-key': 'az-key' }),
        },
      ),
    );
    expect(a.llm).toBe(true);
    expect(a.request.lane.model).toBe('prod-4o');
    expect(a.request.lane.keyFingerprint).toBe(keyFingerprint('az-key'));
  });

  it('reads the caller wishes, over the defaults', () => {
    const a = adaptRequest(
      chat(
        { model: 'm', messages: [] },
        {
          headers: headers({
            'x-sluice-priority': 'Interactive',
            'x-sluice-tenant': ' app-a ',
            'x-sluice-max-wait-ms': '250',
          }),
        },
      ),
      { priority: 'batch', tenant: 'fallback' },
    );
    expect(a.request).toMatchObject({ priority: 'interactive', tenant: 'app-a', maxWaitMs: 250 });
    const b = adaptRequest(chat({ model: 'm', messages: [] }), { priority: 'batch', tenant: 'fallback' });
    expect(b.request).toMatchObject({ priority: 'batch', tenant: 'fallback' });
    expect(b.request).not.toHaveProperty('maxWaitMs');
  });

  it('refuses a bad wish with invalid_option naming the header', () => {
    expect(() =>
      adaptRequest(chat({ model: 'm' }, { headers: headers({ 'x-sluice-max-wait-ms': '-5' }) })),
    ).toThrow(
      expect.objectContaining({
        code: 'invalid_option',
        message: expect.stringContaining('x-sluice-max-wait-ms'),
      }),
    );
  });

  it('uses the shell’s own key when the headers carry none', () => {
    const a = adaptRequest(chat({ model: 'm', messages: [] }, { headers: headers() }), {
      apiKey: 'sk-batch',
    });
    expect(a.request.lane.keyFingerprint).toBe(keyFingerprint('sk-batch'));
  });

  it.each([
    ['a GET', { method: 'GET' }],
    ['a body without a model', { body: JSON.stringify({ text: 'hello' }) }],
    ['a body that is not JSON', { body: 'model=gpt-4o' }],
    [
      'a path that only ends like an endpoint',
      { url: 'https://tickets.example.com/api/tickets/42/messages', body: JSON.stringify({ model: 'm' }) },
    ],
  ])('does not take %s for an LLM call, and costs it one request', (_name, extra) => {
    const a = adaptRequest(chat({ model: 'm', messages: [] }, extra as Partial<WireRequest>));
    expect(a.llm).toBe(false);
    expect(a.kind).toBe('other');
    expect(a.request.cost).toEqual({ promptTokens: 0, completionTokens: 0, n: 0, maxGiven: true });
  });
});
