import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson } from './key.js';

const base = { scope: 'fp1', method: 'POST', path: '/v1/chat/completions' };
const body = { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: 'hi' }] };

describe('cacheKey', () => {
  it('ignores the order of keys and the stream flags', () => {
    const a = cacheKey({ ...base, body });
    const b = cacheKey({
      ...base,
      body: {
        messages: body.messages,
        temperature: 0,
        model: 'gpt-4o-mini',
        stream: true,
        stream_options: { include_usage: true },
      },
    });
    expect(a).toBe(b);
  });

  it.each([
    ['the scope', { ...base, scope: 'fp2', body }],
    ['the model', { ...base, body: { ...body, model: 'gpt-4o' } }],
    ['the temperature', { ...base, body: { ...body, temperature: 1 } }],
    ['a seed', { ...base, body: { ...body, seed: 7 } }],
    ['the tools', { ...base, body: { ...body, tools: [{ type: 'function', function: { name: 'f' } }] } }],
    [
      'the order of messages',
      { ...base, body: { ...body, messages: [{ role: 'system', content: 'x' }, ...body.messages] } },
    ],
    ['the path', { ...base, path: '/v1/responses', body }],
    ['the query', { ...base, query: '?api-version=2024-10-21', body }],
  ])('changes with %s', (_name, parts) => {
    expect(cacheKey(parts)).not.toBe(cacheKey({ ...base, body }));
  });

  it('canonical JSON sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
  });
});
