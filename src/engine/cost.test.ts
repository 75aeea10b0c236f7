import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { ManualClock } from './clock.js';
import { estimateCost, kindOfPath, usageFromBody, usageFromStreamEvent } from './cost.js';
import { Engine } from './engine.js';
import type { BucketSpec, CostVector } from './limits.js';
import { MemoryStore } from './memory-store.js';

const OPTIONS = { typicalCompletion: 100 };

describe('kindOfPath', () => {
  it.each([
    ['/v1/chat/completions', 'chat'],
    ['/chat/completions', 'chat'],
    ['chat/completions', 'chat'],
    ['/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21', 'chat'],
    ['https://api.openai.com/v1/chat/completions/', 'chat'],
    ['/v1/completions', 'completions'],
    ['/openai/deployments/davinci/completions?api-version=2024-10-21', 'completions'],
    ['/v1/embeddings', 'embeddings'],
    ['/openai/deployments/ada/embeddings?api-version=2024-10-21', 'embeddings'],
    ['/v1/responses', 'responses'],
    ['/v1/messages', 'messages'],
    ['/anthropic/v1/messages#x', 'messages'],
    ['/v1/threads/thread_abc/messages', 'other'],
    ['/v1/messages/count_tokens', 'other'],
    ['/v1/responses/resp_123', 'other'],
    ['/v1/models', 'other'],
    ['/v1/mychat/completions', 'completions'],
    ['/v1/xcompletions', 'other'],
    ['', 'other'],
  ])('%s is %s', (path, kind) => {
    expect(kindOfPath(path)).toBe(kind);
  });
});

describe('estimateCost: chat', () => {
  it('charges ceil(characters / 4) of string contents plus typicalCompletion when no max is given', () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' }, // 9
        { role: 'user', content: 'Hello there' }, // 11
      ],
    };
    expect(estimateCost('/v1/chat/completions', body, OPTIONS)).toEqual({
      kind: 'chat',
      model: 'gpt-4o-mini',
      promptTokens: 5, // ceil(20 / 4)
      completionTokens: 100,
      n: 1,
      stream: false,
      maxGiven: false,
    });
  });

  it("counts every part's text and ignores parts without text", () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in' }, // 10
            { type: 'image_url', image_url: { url: 'https://example.com/a-very-long-url.png' } },
            { type: 'text', text: ' this image?' }, // 12
          ],
        },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c', function: { arguments: '{"a":1}' } }] },
        { role: 'tool', tool_call_id: 'c', content: 'ok' }, // 2
      ],
    };
    expect(estimateCost('/v1/chat/completions', body, OPTIONS).promptTokens).toBe(6); // ceil(24 / 4)
  });

  it('charges n × max_completion_tokens, then max_tokens, then max_output_tokens', () => {
    const messages = [{ role: 'user', content: 'abcd' }];
    const cost = (extra: object) => estimateCost('/v1/chat/completions', { messages, ...extra }, OPTIONS);
    expect(cost({ n: 3, max_completion_tokens: 50, max_tokens: 70 })).toMatchObject({
      promptTokens: 1,
      completionTokens: 150,
      n: 3,
      maxGiven: true,
    });
    expect(cost({ max_tokens: 70 })).toMatchObject({ completionTokens: 70, maxGiven: true });
    expect(cost({ max_completion_tokens: null, max_tokens: 70 })).toMatchObject({ completionTokens: 70 });
    expect(cost({ max_output_tokens: 30 })).toMatchObject({ completionTokens: 30, maxGiven: true });
    expect(cost({ max_tokens: 0 })).toMatchObject({ completionTokens: 0, maxGiven: true });
    expect(cost({ n: 2 })).toMatchObject({ completionTokens: 200, n: 2, maxGiven: false });
  });

  it('ignores an n or a max that is not a usable number', () => {
    const messages = [{ role: 'user', content: 'abcd' }];
    const cost = (extra: object) => estimateCost('/v1/chat/completions', { messages, ...extra }, OPTIONS);
    for (const n of [0, -1, 1.5, '3', null]) expect(cost({ n }).n).toBe(1);
    for (const max of ['50', -5, 2.5, Number.NaN, null, true]) {
      expect(cost({ max_tokens: max })).toMatchObject({ completionTokens: 100, maxGiven: false });
    }
  });

  it('reads stream', () => {
    const body = { messages: [], stream: true, stream_options: { include_usage: true } };
    expect(estimateCost('/v1/chat/completions', body, OPTIONS).stream).toBe(true);
    expect(estimateCost('/v1/chat/completions', { messages: [], stream: 'yes' }, OPTIONS).stream).toBe(false);
  });

  it('takes the Azure deployment name as the model, whatever the body says (Azure limits per deployment)', () => {
    const path = '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21';
    expect(estimateCost(path, { messages: [] }, OPTIONS).model).toBe('gpt-4o-prod');
    expect(estimateCost(path, { model: 'gpt-4o', messages: [] }, OPTIONS).model).toBe('gpt-4o-prod');
    expect(
      estimateCost('/openai/v1/chat/completions', { model: 'gpt-4o', messages: [] }, OPTIONS).model,
    ).toBe('gpt-4o');
    expect(
      estimateCost('/openai/deployments/my%20dep/chat/completions', { messages: [] }, OPTIONS).model,
    ).toBe('my dep');
    expect(estimateCost('/v1/chat/completions', { messages: [] }, OPTIONS).model).toBeUndefined();
  });

  it('accepts the body as JSON text or UTF-8 bytes', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'abcdefgh' }], max_tokens: 10 };
    const expected = estimateCost('/v1/chat/completions', body, OPTIONS);
    expect(expected).toMatchObject({ promptTokens: 2, completionTokens: 10 });
    const text = JSON.stringify(body);
    expect(estimateCost('/v1/chat/completions', text, OPTIONS)).toEqual(expected);
    expect(estimateCost('/v1/chat/completions', new TextEncoder().encode(text), OPTIONS)).toEqual(expected);
  });

  it('costs one request and no tokens for a body that is not a JSON object', () => {
    for (const body of [undefined, null, 'not json', '[1,2]', 42, [{ messages: [] }]]) {
      expect(estimateCost('/v1/chat/completions', body, OPTIONS)).toEqual({
        kind: 'other',
        promptTokens: 0,
        completionTokens: 0,
        n: 1,
        stream: false,
        maxGiven: false,
      });
    }
  });

  it('uses countTokens per text piece instead of the character rule', () => {
    const countTokens = vi.fn((text: string) => text.split(' ').length);
    const body = {
      messages: [
        { role: 'user', content: 'one two three' },
        { role: 'user', content: [{ type: 'text', text: 'four five' }] },
      ],
    };
    expect(estimateCost('/v1/chat/completions', body, { ...OPTIONS, countTokens }).promptTokens).toBe(5);
    expect(countTokens.mock.calls).toEqual([['one two three'], ['four five']]);
  });

  it('falls back to the character rule for a piece the tokenizer cannot count', () => {
    const body = { messages: [{ role: 'user', content: 'abcdefgh' }] };
    const countTokens = () => Number.NaN;
    expect(estimateCost('/v1/chat/completions', body, { ...OPTIONS, countTokens }).promptTokens).toBe(2);
  });

  it('guards against an unusable typicalCompletion', () => {
    const body = { messages: [] };
    expect(
      estimateCost('/v1/chat/completions', body, { typicalCompletion: Number.NaN }).completionTokens,
    ).toBe(0);
    expect(estimateCost('/v1/chat/completions', body, { typicalCompletion: -3 }).completionTokens).toBe(0);
  });
});

describe('estimateCost: legacy completions', () => {
  it('charges the prompt string, or the sum over an array of strings', () => {
    expect(
      estimateCost(
        '/v1/completions',
        { model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test' },
        OPTIONS,
      ),
    ).toEqual({
      kind: 'completions',
      model: 'gpt-3.5-turbo-instruct',
      promptTokens: 5, // ceil(18 / 4)
      completionTokens: 100,
      n: 1,
      stream: false,
      maxGiven: false,
    });
    const batch = { prompt: ['abcd', 'efghij', 'k'], max_tokens: 16, n: 2 }; // 11 chars
    expect(estimateCost('/v1/completions', batch, OPTIONS)).toMatchObject({
      promptTokens: 3,
      completionTokens: 32,
      n: 2,
      maxGiven: true,
    });
  });

  it('counts token arrays by their length', () => {
    expect(estimateCost('/v1/completions', { prompt: [1, 2, 3, 4, 5] }, OPTIONS).promptTokens).toBe(2);
    expect(estimateCost('/v1/completions', { prompt: [[1, 2, 3], [4]] }, OPTIONS).promptTokens).toBe(1);
  });
});

describe('estimateCost: embeddings', () => {
  const cost = (input: unknown) =>
    estimateCost(
      '/v1/embeddings',
      { model: 'text-embedding-3-small', input, max_tokens: 50, n: 4, stream: true },
      OPTIONS,
    );

  it('charges the input only: no completion part, one request', () => {
    expect(cost('The food was delicious')).toEqual({
      kind: 'embeddings',
      model: 'text-embedding-3-small',
      promptTokens: 6, // ceil(22 / 4)
      completionTokens: 0,
      n: 1,
      stream: false,
      maxGiven: true,
    });
  });

  it.each([
    [['abcd', 'efgh', 'i'], 3], // 9 chars
    [[1, 2, 3, 4, 5, 6, 7, 8], 2], // a token array: 8
    [
      [
        [1, 2, 3],
        [4, 5, 6, 7, 8, 9],
      ],
      3,
    ], // token arrays: 3 + 6
    [[], 0],
    [42, 0],
  ])('input %j costs %d prompt tokens', (input, tokens) => {
    expect(cost(input).promptTokens).toBe(tokens);
  });

  it('counts token arrays as tokens under a tokenizer', () => {
    const countTokens = () => 1000;
    const body = { input: [[1, 2, 3], [4]] };
    expect(estimateCost('/v1/embeddings', body, { ...OPTIONS, countTokens }).promptTokens).toBe(4);
  });
});

describe('estimateCost: responses', () => {
  it('charges instructions plus a string input, n × max_output_tokens', () => {
    const body = {
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: 'Tell me a joke',
      max_output_tokens: 64,
    };
    expect(estimateCost('/v1/responses', body, OPTIONS)).toEqual({
      kind: 'responses',
      model: 'gpt-4.1',
      promptTokens: 6, // ceil((9 + 14) / 4)
      completionTokens: 64,
      n: 1,
      stream: false,
      maxGiven: true,
    });
  });

  it("charges items' content strings and parts' text", () => {
    const body = {
      input: [
        { role: 'developer', content: 'Rules.' }, // 6
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Describe' }, // 8
            { type: 'input_image', image_url: 'https://example.com/x.png' },
          ],
        },
        { type: 'function_call_output', call_id: 'c', output: '{"long":"ignored by the rule"}' },
        'stray string',
      ],
      stream: true,
    };
    expect(estimateCost('/v1/responses', body, OPTIONS)).toMatchObject({
      promptTokens: 4, // ceil(14 / 4)
      completionTokens: 100,
      stream: true,
      maxGiven: false,
    });
  });
});

describe('estimateCost: Anthropic messages', () => {
  it('charges a system string plus messages', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'You are terse.', // 14
      messages: [
        { role: 'user', content: 'Hi' }, // 2
        { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] }, // 5
      ],
    };
    expect(estimateCost('/v1/messages', body, OPTIONS)).toEqual({
      kind: 'messages',
      model: 'claude-sonnet-4-5',
      promptTokens: 6, // ceil(21 / 4)
      completionTokens: 1024,
      n: 1,
      stream: false,
      maxGiven: true,
    });
  });

  it('charges system text blocks, and ignores n', () => {
    const body = {
      max_tokens: 10,
      n: 5,
      system: [
        { type: 'text', text: 'abcd', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'efgh' },
      ],
      messages: [{ role: 'user', content: 'ij' }],
    };
    expect(estimateCost('/v1/messages', body, OPTIONS)).toMatchObject({
      promptTokens: 3,
      completionTokens: 10,
      n: 1,
    });
  });
});

describe('estimateCost: other endpoints', () => {
  it('costs one request and no tokens, keeping the model and stream', () => {
    expect(
      estimateCost('/v1/images/generations', { model: 'gpt-image-1', prompt: 'a cat' }, OPTIONS),
    ).toEqual({
      kind: 'other',
      model: 'gpt-image-1',
      promptTokens: 0,
      completionTokens: 0,
      n: 1,
      stream: false,
      maxGiven: false,
    });
  });
});

describe('estimateCost: properties', () => {
  const paths = fc.constantFrom(
    '/v1/chat/completions',
    '/v1/completions',
    '/v1/embeddings',
    '/v1/responses',
    '/v1/messages',
    '/v1/other',
  );
  const part = fc.oneof(fc.record({ type: fc.constant('text'), text: fc.string() }), fc.jsonValue());
  const content = fc.oneof(fc.string(), fc.array(part, { maxLength: 4 }), fc.jsonValue());
  const message = fc.oneof(fc.record({ role: fc.string(), content }), fc.jsonValue());
  const body = fc.oneof(
    fc.jsonValue(),
    fc.string(),
    fc.record(
      {
        model: fc.oneof(fc.string(), fc.jsonValue()),
        messages: fc.oneof(fc.array(message, { maxLength: 5 }), fc.jsonValue()),
        prompt: fc.oneof(fc.string(), fc.array(fc.oneof(fc.string(), fc.integer())), fc.jsonValue()),
        input: fc.oneof(
          fc.string(),
          fc.array(fc.oneof(fc.string(), fc.array(fc.integer()), message)),
          fc.jsonValue(),
        ),
        instructions: fc.oneof(fc.string(), fc.jsonValue()),
        system: content,
        n: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.jsonValue()),
        max_tokens: fc.oneof(fc.integer({ min: -10, max: 4096 }), fc.jsonValue()),
        stream: fc.oneof(fc.boolean(), fc.jsonValue()),
      },
      { requiredKeys: [] },
    ),
  );

  it('never throws; costs are non-negative integers', () => {
    fc.assert(
      fc.property(paths, body, fc.integer({ min: 0, max: 1000 }), (path, b, typicalCompletion) => {
        const cost = estimateCost(path, b, { typicalCompletion });
        expect(Number.isInteger(cost.promptTokens) && cost.promptTokens >= 0).toBe(true);
        expect(Number.isInteger(cost.completionTokens) && cost.completionTokens >= 0).toBe(true);
        expect(Number.isInteger(cost.n) && cost.n >= 1).toBe(true);
        if (cost.kind === 'embeddings' || cost.kind === 'other') expect(cost.completionTokens).toBe(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('the engine reserves the documented sum: prompt + completion with a max, prompt + n × its typical completion without; input and output split it', async () => {
    class SpyStore extends MemoryStore {
      readonly reserved: CostVector[] = [];
      override reserve(lane: string, buckets: readonly BucketSpec[], cost: CostVector, now: number) {
        this.reserved.push({ ...cost });
        return super.reserve(lane, buckets, cost, now);
      }
    }
    await fc.assert(
      fc.asyncProperty(paths, body, fc.integer({ min: 1, max: 1000 }), async (path, b, typical) => {
        const cost = estimateCost(path, b, { typicalCompletion: 0 });
        const store = new SpyStore();
        const engine = new Engine({ store, clock: new ManualClock(), typicalCompletionTokens: typical });
        const lane = { upstream: 'u', keyFingerprint: 'k', model: cost.model ?? 'unknown' };
        await engine.execute({ lane, cost }, async () => ({ status: 200, headers: {}, value: null }));
        const output = cost.maxGiven ? cost.completionTokens : cost.n * typical;
        const tokens = cost.promptTokens + output;
        expect(store.reserved).toEqual([
          { requests: 1, tokens, inputTokens: cost.promptTokens, outputTokens: output },
        ]);
      }),
      { numRuns: 300 },
    );
  });

  it('the character rule and a one-token-per-character tokenizer agree on chat', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 6 }), (contents) => {
        const body = { messages: contents.map((content) => ({ role: 'user', content })) };
        const chars = contents.reduce((sum, c) => sum + c.length, 0);
        expect(estimateCost('/chat/completions', body, OPTIONS).promptTokens).toBe(Math.ceil(chars / 4));
        const perChar = { ...OPTIONS, countTokens: (text: string) => text.length };
        expect(estimateCost('/chat/completions', body, perChar).promptTokens).toBe(chars);
      }),
    );
  });
});

describe('usageFromBody', () => {
  it('reads OpenAI chat usage', () => {
    const body = {
      id: 'chatcmpl-1',
      usage: {
        prompt_tokens: 19,
        completion_tokens: 10,
        total_tokens: 29,
        prompt_tokens_details: { cached_tokens: 0 },
      },
    };
    expect(usageFromBody(body)).toEqual({ promptTokens: 19, completionTokens: 10, totalTokens: 29 });
    expect(usageFromBody(JSON.stringify(body))).toEqual({
      promptTokens: 19,
      completionTokens: 10,
      totalTokens: 29,
    });
  });

  it('reads embeddings usage (no completion)', () => {
    expect(usageFromBody({ object: 'list', usage: { prompt_tokens: 8, total_tokens: 8 } })).toEqual({
      promptTokens: 8,
      totalTokens: 8,
    });
  });

  it('reads Responses API usage', () => {
    const body = {
      object: 'response',
      usage: {
        input_tokens: 36,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 87,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 123,
      },
    };
    expect(usageFromBody(body)).toEqual({ promptTokens: 36, completionTokens: 87, totalTokens: 123 });
  });

  it('reads Anthropic usage, adding cache writes to the prompt but not cache reads', () => {
    const body = {
      type: 'message',
      usage: {
        input_tokens: 2095,
        output_tokens: 503,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 5000,
      },
    };
    expect(usageFromBody(body)).toEqual({ promptTokens: 2195, completionTokens: 503, totalTokens: 2698 });
  });

  it('returns undefined when there is no usage', () => {
    for (const body of [
      undefined,
      null,
      'nope',
      {},
      { usage: null },
      { usage: {} },
      { usage: { prompt_tokens: 'x' } },
    ]) {
      expect(usageFromBody(body)).toBeUndefined();
    }
  });
});

describe('usageFromStreamEvent', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads the final usage chunk of a chat stream', () => {
    const data =
      '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}';
    expect(usageFromStreamEvent(data)).toEqual({ promptTokens: 9, completionTokens: 12, totalTokens: 21 });
    expect(usageFromStreamEvent(`data: ${data}`)).toEqual({
      promptTokens: 9,
      completionTokens: 12,
      totalTokens: 21,
    });
  });

  it('skips ordinary chunks without parsing them', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const chunks = [
      '{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\\"max_tokens\\""}}],"usage":null}',
      '[DONE]',
      '{"type":"response.output_text.delta","delta":"Hi"}',
      '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
    ];
    for (const chunk of chunks) expect(usageFromStreamEvent(chunk)).toBeUndefined();
    expect(parse).not.toHaveBeenCalled();
  });

  it('reads response.completed', () => {
    const data = JSON.stringify({
      type: 'response.completed',
      sequence_number: 20,
      response: {
        id: 'resp_1',
        status: 'completed',
        max_output_tokens: null,
        error: null,
        usage: { input_tokens: 37, output_tokens: 11, total_tokens: 48 },
      },
    });
    expect(usageFromStreamEvent(data)).toEqual({ promptTokens: 37, completionTokens: 11, totalTokens: 48 });
    const created = JSON.stringify({
      type: 'response.created',
      response: { id: 'resp_1', max_output_tokens: null, usage: null },
    });
    expect(usageFromStreamEvent(created)).toBeUndefined();
  });

  it("reads Anthropic's message_start and message_delta", () => {
    const start =
      '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}';
    expect(usageFromStreamEvent(start)).toEqual({ promptTokens: 25, completionTokens: 1, totalTokens: 26 });
    const delta =
      '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}';
    expect(usageFromStreamEvent(delta)).toEqual({ completionTokens: 15 });
  });

  it('returns undefined for unparsable data and never throws', () => {
    expect(usageFromStreamEvent('{"usage":{"prompt_tokens":')).toBeUndefined();
    expect(
      usageFromStreamEvent('{"choices":[{"delta":{"content":"max_tokens"}}],"usage":null}'),
    ).toBeUndefined();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify({ usage: v })),
        ),
        (data) => {
          usageFromStreamEvent(data);
        },
      ),
    );
  });
});
