import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assembleChat, chunksOfChat } from './chat.js';

const completion = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: 'stop', ...extra },
  ],
  usage: {
    prompt_tokens: 5,
    completion_tokens: 7,
    total_tokens: 12,
    completion_tokens_details: { reasoning_tokens: 2 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_1',
});

describe('a completion cut into chunks and assembled again', () => {
  it.each([
    ['text', completion({ content: 'The river runs to the sea, slowly.', refusal: null, annotations: [] })],
    ['a refusal', completion({ content: null, refusal: 'I can’t help with that request.' })],
    [
      'tool calls',
      completion(
        {
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz": "CET"}' } },
          ],
        },
        { finish_reason: 'tool_calls' },
      ),
    ],
    ['a reasoning field', completion({ content: 'Four.', reasoning_content: 'Two plus two is four.' })],
    [
      'logprobs',
      completion(
        { content: 'Hello there' },
        {
          logprobs: {
            content: [
              { token: 'Hello', logprob: -0.1, bytes: [72, 101, 108, 108, 111], top_logprobs: [] },
              { token: ' there', logprob: -0.3, bytes: [32, 116, 104, 101, 114, 101], top_logprobs: [] },
            ],
            refusal: null,
          },
        },
      ),
    ],
  ])('keeps every field of %s', (_name, json) => {
    const chunks = chunksOfChat(json, true);
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) expect(c['object']).toBe('chat.completion.chunk');
    expect(assembleChat(chunks)).toEqual(json);
  });

  it('sends the usage chunk only when asked for', () => {
    const json = completion({ content: 'hi' });
    expect(chunksOfChat(json, false).some((c) => 'usage' in c)).toBe(false);
    expect(chunksOfChat(json, true).at(-1)).toMatchObject({ choices: [], usage: json.usage });
  });

  it('cuts text by delta, never into one aggregated chunk', () => {
    const chunks = chunksOfChat(completion({ content: 'one two three four' }), false);
    const deltas = chunks.map((c) => (c['choices'] as { delta: { content?: string } }[])[0]?.delta.content);
    expect(deltas.filter((d) => d !== undefined && d !== '')).toEqual(['one', ' two', ' three', ' four']);
  });

  it('keeps several choices apart', () => {
    const json = {
      ...completion({ content: 'first answer' }),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'first answer' },
          logprobs: null,
          finish_reason: 'stop',
        },
        {
          index: 1,
          message: { role: 'assistant', content: 'second one' },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
    };
    expect(assembleChat(chunksOfChat(json, true))).toEqual(json);
  });

  it('round-trips any text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (content, refusal) => {
        const json = completion({ content, refusal });
        expect(assembleChat(chunksOfChat(json, true))).toEqual(json);
      }),
    );
  });
});

describe('assembleChat', () => {
  it('assembles a real stream: role first, text pieces, tool-call arguments by index, usage at the end', () => {
    const env = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm' };
    const chunks = [
      {
        ...env,
        choices: [
          {
            index: 0,
            delta: {
              role: 'assistant',
              content: null,
              tool_calls: [
                { index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } },
              ],
            },
            finish_reason: null,
          },
        ],
      },
      {
        ...env,
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] },
            finish_reason: null,
          },
        ],
      },
      {
        ...env,
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] },
            finish_reason: null,
          },
        ],
      },
      { ...env, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { ...env, choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
    ];
    expect(assembleChat(chunks)).toEqual({
      id: 'c1',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
  });
});
