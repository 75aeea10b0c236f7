import { describe, expect, it } from 'vitest';
import { isBadRequest, parseRequest, type Endpoint, type ParsedRequest } from './request.js';

function ok(endpoint: Endpoint, body: unknown, deployment?: string): ParsedRequest {
  const parsed = parseRequest(endpoint, body, deployment);
  if (isBadRequest(parsed)) throw new Error(parsed.message);
  return parsed;
}

describe('parseRequest: prompt characters', () => {
  it('chat counts content strings and the text of parts', () => {
    const r = ok('chat', {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'abcd' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'efg' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
    });
    expect(r).toMatchObject({ model: 'gpt-4o', promptChars: 7, promptTokens: 2, maxTokens: undefined, n: 1 });
  });

  it('legacy completions count prompt strings, embeddings count input (token arrays by length)', () => {
    expect(ok('completions', { model: 'm', prompt: 'hello' }).promptChars).toBe(5);
    expect(ok('completions', { model: 'm', prompt: ['ab', 'cde'] }).promptChars).toBe(5);
    expect(ok('completions', { model: 'm', prompt: [] }).promptChars).toBe(0);
    // Token prompts, as OpenAI accepts them: a token array counts its length.
    expect(ok('completions', { model: 'm', prompt: [1, 2, 3] }).promptChars).toBe(3);
    expect(ok('completions', { model: 'm', prompt: [[1, 2], [3]] }).promptChars).toBe(3);
    expect(ok('embeddings', { model: 'm', input: 'abcdefghi' })).toMatchObject({
      promptChars: 9,
      promptTokens: 3,
      inputs: 1,
    });
    expect(ok('embeddings', { model: 'm', input: ['ab', 'cd', 'ef'] })).toMatchObject({
      promptChars: 6,
      inputs: 3,
    });
    expect(ok('embeddings', { model: 'm', input: [1, 2, 3, 4, 5] })).toMatchObject({
      promptChars: 5,
      inputs: 1,
    });
    expect(ok('embeddings', { model: 'm', input: [[1, 2], [3]] })).toMatchObject({
      promptChars: 3,
      inputs: 2,
    });
  });

  it('responses count instructions and input items; messages count system and content', () => {
    expect(ok('responses', { model: 'm', instructions: 'abc', input: 'de' }).promptChars).toBe(5);
    expect(
      ok('responses', {
        model: 'm',
        input: [
          { role: 'user', content: 'abcd' },
          { role: 'user', content: [{ type: 'input_text', text: 'ef' }] },
        ],
      }).promptChars,
    ).toBe(6);
    expect(
      ok('messages', {
        model: 'claude',
        max_tokens: 10,
        system: 'sys',
        messages: [{ role: 'user', content: 'hello' }],
      }),
    ).toMatchObject({ promptChars: 8, maxTokens: 10 });
  });

  it('reads the max in contract order and n, stream and include_usage', () => {
    expect(
      ok('chat', { model: 'm', messages: [{}], max_completion_tokens: 5, max_tokens: 9 }).maxTokens,
    ).toBe(5);
    expect(
      ok('chat', { model: 'm', messages: [{}], max_completion_tokens: null, max_tokens: 9 }).maxTokens,
    ).toBe(9);
    expect(ok('responses', { model: 'm', input: 'x', max_output_tokens: 7 }).maxTokens).toBe(7);
    expect(ok('chat', { model: 'm', messages: [{}], n: 3 }).n).toBe(3);
    expect(
      ok('chat', { model: 'm', messages: [{}], stream: true, stream_options: { include_usage: true } }),
    ).toMatchObject({
      stream: true,
      includeUsage: true,
    });
    expect(ok('embeddings', { model: 'm', input: 'x', stream: true }).stream).toBe(false);
  });

  it('takes the Azure deployment as the model', () => {
    expect(ok('chat', { messages: [{}] }, 'my-deployment').model).toBe('my-deployment');
  });

  it('hashes what makes requests equal: not stream flags or key order', () => {
    const a = ok('chat', { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    const b = ok('chat', {
      max_tokens: 5,
      stream: true,
      messages: [{ content: 'hi', role: 'user' }],
      model: 'm',
    });
    const c = ok('chat', { model: 'm', messages: [{ role: 'user', content: 'hi!' }], max_tokens: 5 });
    const d = ok('chat', { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6 });
    expect(a.hash).toBe(b.hash);
    expect(new Set([a.hash, c.hash, d.hash]).size).toBe(3);
  });
});

describe('parseRequest: 400s in OpenAI wording', () => {
  it.each([
    ['chat', { messages: [] }, 'you must provide a model parameter', null, null],
    [
      'chat',
      { model: 'm' },
      "Missing required parameter: 'messages'.",
      'messages',
      'missing_required_parameter',
    ],
    [
      'chat',
      { model: 'm', messages: 'hi' },
      "Invalid type for 'messages': expected an array of objects, but got a string instead.",
      'messages',
      'invalid_type',
    ],
    [
      'chat',
      { model: 'm', messages: [] },
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
      'empty_array',
    ],
    [
      'chat',
      { model: 'm', messages: ['hi'] },
      "Invalid type for 'messages[0]': expected an object, but got a string instead.",
      'messages[0]',
      'invalid_type',
    ],
    [
      'chat',
      { model: 'm', messages: [{}], max_tokens: 0 },
      "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.",
      'max_tokens',
      'integer_below_min_value',
    ],
    [
      'chat',
      { model: 'm', messages: [{}], max_tokens: '5' },
      "Invalid type for 'max_tokens': expected an integer, but got a string instead.",
      'max_tokens',
      'invalid_type',
    ],
    [
      'chat',
      { model: 'm', messages: [{}], n: 200 },
      "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 200 instead.",
      'n',
      'integer_above_max_value',
    ],
    [
      'chat',
      { model: 7, messages: [{}] },
      "Invalid type for 'model': expected a string, but got an integer instead.",
      'model',
      'invalid_type',
    ],
    [
      'completions',
      { model: 'm' },
      "Missing required parameter: 'prompt'.",
      'prompt',
      'missing_required_parameter',
    ],
    [
      'embeddings',
      { model: 'm' },
      "Missing required parameter: 'input'.",
      'input',
      'missing_required_parameter',
    ],
    [
      'embeddings',
      { model: 'm', input: [{}] },
      "Invalid type for 'input': expected a string, an array of strings or an array of token arrays, but got an array instead.",
      'input',
      'invalid_type',
    ],
    [
      'embeddings',
      { model: 'm', input: Array.from({ length: 2049 }, () => 'a') },
      "Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 2049 instead.",
      'input',
      'array_above_max_length',
    ],
    [
      'embeddings',
      { model: 'm', input: 'a', dimensions: 3073 },
      "Invalid 'dimensions': integer above maximum value. Expected a value <= 3072, but got 3073 instead.",
      'dimensions',
      'integer_above_max_value',
    ],
    [
      'completions',
      { model: 'm', prompt: [1, 'a'] },
      "Invalid type for 'prompt': expected a string, an array of strings, a token array or an array of token arrays, but got an array instead.",
      'prompt',
      'invalid_type',
    ],
    ['messages', { model: 'c', messages: [{}] }, 'max_tokens: Field required', 'max_tokens', null],
    [
      'chat',
      [1, 2],
      'Invalid type for request body: expected an object, but got an array instead.',
      null,
      null,
    ],
  ] as const)('%s %j', (endpoint, body, message, param, code) => {
    expect(parseRequest(endpoint, body)).toEqual({ bad: true, message, param, code });
  });
});
