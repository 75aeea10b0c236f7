/**
 * The admission charge rule is written twice on purpose: `estimateCost` (src/engine/cost.ts) is the
 * client's mirror, `parseRequest` + `admissionCost` (src/mock/request.ts) the server's ledger — the
 * emulator must not import the engine. This test holds the two to one rule: for every valid request,
 * the same prompt tokens, choices, completion part, model and stream flag.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateCost } from '../src/engine/cost.js';
import { admissionCost, isBadRequest, parseRequest, type Endpoint } from '../src/mock/request.js';

/** Completion tokens both sides assume when a request names no max. */
const DEFAULT_MAX = 16;

const PATHS: Record<Endpoint, string> = {
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
  responses: '/v1/responses',
  messages: '/v1/messages',
};

const AZURE_OPERATIONS: Partial<Record<Endpoint, string>> = {
  chat: 'chat/completions',
  completions: 'completions',
  embeddings: 'embeddings',
};

/** Both sides' view of one request; the server's must be a valid request. */
function bothSides(endpoint: Endpoint, body: Record<string, unknown>, deployment?: string) {
  const path =
    deployment === undefined
      ? PATHS[endpoint]
      : `/openai/deployments/${encodeURIComponent(deployment)}/${AZURE_OPERATIONS[endpoint]}?api-version=2024-10-21`;
  const parsed = parseRequest(endpoint, body, deployment);
  if (isBadRequest(parsed))
    throw new Error(`the emulator refused ${JSON.stringify(body)}: ${parsed.message}`);
  const server = admissionCost(parsed, DEFAULT_MAX);
  // The client sees the body as JSON text, as it goes on the wire.
  const client = estimateCost(path, JSON.stringify(body), { typicalCompletion: DEFAULT_MAX });
  return {
    client: {
      promptTokens: client.promptTokens,
      completionTokens: client.completionTokens,
      tokens: client.promptTokens + client.completionTokens,
      n: client.n,
      model: client.model,
      stream: client.stream,
      kind: client.kind,
    },
    server: {
      promptTokens: server.inputTokens,
      completionTokens: server.outputTokens,
      tokens: server.tokens,
      n: parsed.n,
      model: parsed.model,
      stream: parsed.stream,
      kind: endpoint,
    },
  };
}

function expectAgreement(endpoint: Endpoint, body: Record<string, unknown>, deployment?: string): void {
  const { client, server } = bothSides(endpoint, body, deployment);
  expect(client).toEqual(server);
}

const text = (chars: number) => 'x'.repeat(chars);

describe('the charge rule: client estimate = emulator charge', () => {
  it.each<[string, Endpoint, Record<string, unknown>]>([
    ['chat, string contents', 'chat', { model: 'gpt-4o', messages: [{ role: 'user', content: text(13) }] }],
    [
      'chat, part contents (text parts count, images do not) and a null content',
      'chat',
      {
        model: 'gpt-4o',
        messages: [
          { role: 'system', content: [{ type: 'text', text: text(7) }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: text(9) },
              { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            ],
          },
          { role: 'assistant', content: null, tool_calls: [] },
        ],
      },
    ],
    [
      'chat, n and max_tokens',
      'chat',
      { model: 'm', messages: [{ role: 'user', content: 'hi' }], n: 3, max_tokens: 50 },
    ],
    [
      'chat, max_completion_tokens wins over max_tokens',
      'chat',
      { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 7, max_tokens: 500 },
    ],
    [
      'chat, streamed, no max',
      'chat',
      { model: 'm', messages: [{ role: 'user', content: 'hello' }], stream: true, n: 2 },
    ],
    ['completions, string prompt', 'completions', { model: 'm', prompt: text(21), max_tokens: 5 }],
    ['completions, array of strings', 'completions', { model: 'm', prompt: ['ab', text(30)], n: 2 }],
    ['completions, empty array', 'completions', { model: 'm', prompt: [] }],
    ['completions, token array', 'completions', { model: 'm', prompt: [1, 2, 3, 4, 5, 6, 7] }],
    ['completions, array of token arrays', 'completions', { model: 'm', prompt: [[1, 2], [3], [4, 5, 6]] }],
    ['embeddings, string', 'embeddings', { model: 'e', input: text(9) }],
    ['embeddings, array of strings', 'embeddings', { model: 'e', input: ['a', text(11), 'cd'] }],
    ['embeddings, token array', 'embeddings', { model: 'e', input: [5, 6, 7, 8, 9] }],
    ['embeddings, array of token arrays', 'embeddings', { model: 'e', input: [[1], [2, 3]], dimensions: 64 }],
    ['embeddings, a max is ignored', 'embeddings', { model: 'e', input: 'abc', max_tokens: 100 }],
    ['responses, string input', 'responses', { model: 'm', input: text(17), max_output_tokens: 40 }],
    [
      'responses, instructions and items with string and part contents',
      'responses',
      {
        model: 'm',
        instructions: text(6),
        input: [
          { role: 'user', content: text(5) },
          { role: 'user', content: [{ type: 'input_text', text: text(8) }, { type: 'input_image' }] },
          { type: 'function_call_output', call_id: 'c', output: 'ignored' },
        ],
      },
    ],
    ['responses, no input', 'responses', { model: 'm', instructions: 'be brief' }],
    [
      'messages, string system',
      'messages',
      { model: 'claude', system: text(10), messages: [{ role: 'user', content: text(3) }], max_tokens: 64 },
    ],
    [
      'messages, system blocks and content blocks',
      'messages',
      {
        model: 'claude',
        system: [
          { type: 'text', text: text(12) },
          { type: 'text', text: text(4), cache_control: { type: 'ephemeral' } },
        ],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: text(9) },
              { type: 'image', source: {} },
            ],
          },
          { role: 'assistant', content: 'ok' },
        ],
        max_tokens: 1024,
        stream: true,
      },
    ],
  ])('%s', (_, endpoint, body) => expectAgreement(endpoint, body));

  it('agrees on Azure deployment paths: the deployment is the model', () => {
    expectAgreement(
      'chat',
      { model: 'ignored', messages: [{ role: 'user', content: 'hi' }], max_tokens: 9 },
      'gpt-4o prod',
    );
    expectAgreement('embeddings', { input: ['a', 'b'] }, 'ada');
  });

  it('agrees on every valid request (property)', () => {
    const str = fc.string({ unit: 'binary', maxLength: 200, size: 'medium' });
    const textPart = fc.record({ type: fc.constant('text'), text: str });
    const otherPart = fc.record({ type: fc.constant('image_url'), image_url: fc.record({ url: str }) });
    const content = fc.oneof(
      str,
      fc.array(fc.oneof(textPart, otherPart), { maxLength: 4 }),
      fc.constant(null),
    );
    const message = fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content });
    const messages = fc.array(message, { minLength: 1, maxLength: 5 });
    const max = fc.integer({ min: 1, max: 1_000_000 });
    const maxes = fc.record(
      { max_completion_tokens: max, max_tokens: max, max_output_tokens: max },
      { requiredKeys: [] },
    );
    const choices = fc.record({ n: fc.integer({ min: 1, max: 128 }) }, { requiredKeys: [] });
    const stream = fc.record({ stream: fc.boolean() }, { requiredKeys: [] });
    const tokens = fc.array(fc.nat(100_000), { minLength: 1, maxLength: 20 });
    const inputs = fc.oneof(
      str,
      fc.array(str, { minLength: 1, maxLength: 6 }),
      tokens,
      fc.array(fc.array(fc.nat(100_000), { maxLength: 10 }), { minLength: 1, maxLength: 6 }),
    );
    const item = fc.record({
      role: fc.constantFrom('user', 'assistant'),
      content: fc.oneof(
        str,
        fc.array(fc.record({ type: fc.constant('input_text'), text: str }), { maxLength: 3 }),
      ),
    });
    const req = (endpoint: Endpoint, body: Record<string, unknown>): [Endpoint, Record<string, unknown>] => [
      endpoint,
      body,
    ];
    const request = fc.oneof(
      fc
        .tuple(messages, maxes, choices, stream)
        .map(([m, a, b, c]) => req('chat', { model: 'gpt-4o', messages: m, ...a, ...b, ...c })),
      fc
        .tuple(inputs, maxes, choices, stream)
        .map(([p, a, b, c]) => req('completions', { model: 'davinci', prompt: p, ...a, ...b, ...c })),
      fc.tuple(inputs, maxes).map(([i, a]) => req('embeddings', { model: 'ada', input: i, ...a })),
      fc
        .tuple(
          fc.option(str, { nil: undefined }),
          fc.oneof(str, fc.array(item, { maxLength: 4 })),
          maxes,
          stream,
        )
        .map(([instructions, input, a, c]) =>
          req('responses', {
            model: 'o4',
            ...(instructions === undefined ? {} : { instructions }),
            input,
            ...a,
            ...c,
          }),
        ),
      fc
        .tuple(
          fc.option(fc.oneof(str, fc.array(textPart, { maxLength: 3 })), { nil: undefined }),
          messages,
          max,
          stream,
        )
        .map(([system, m, maxTokens, c]) =>
          req('messages', {
            model: 'claude',
            ...(system === undefined ? {} : { system }),
            messages: m,
            max_tokens: maxTokens,
            ...c,
          }),
        ),
    );
    fc.assert(
      fc.property(request, ([endpoint, body]) => {
        const { client, server } = bothSides(endpoint, body);
        expect(client).toEqual(server);
      }),
      { numRuns: 500 },
    );
  });
});
