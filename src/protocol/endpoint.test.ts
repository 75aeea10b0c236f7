import { describe, expect, it } from 'vitest';
import { endpointOf } from './endpoint.js';

describe('endpointOf', () => {
  it.each([
    ['/v1/chat/completions', 'chat'],
    ['/v1/completions', 'completions'],
    ['/v1/embeddings', 'embeddings'],
    ['/v1/responses', 'responses'],
    ['/v1/messages', 'messages'],
    ['/openai/v1/chat/completions', 'chat'],
    ['/v1beta/openai/chat/completions', 'chat'],
    ['/api/v1/chat/completions', 'chat'],
    ['/inference/v1/chat/completions', 'chat'],
    ['/chat/completions', 'chat'],
    ['/v1/chat/completions/', 'chat'],
  ])('recognises %s as %s', (path, kind) => {
    expect(endpointOf(path)).toEqual({ kind });
  });

  it('reads the deployment of an Azure path', () => {
    expect(endpointOf('/openai/deployments/gpt-4o%20eu/chat/completions')).toEqual({
      kind: 'chat',
      deployment: 'gpt-4o eu',
    });
    expect(endpointOf('/openai/deployments/emb/embeddings')).toEqual({
      kind: 'embeddings',
      deployment: 'emb',
    });
  });

  it.each([
    '/api/tickets/42/messages',
    '/v1/threads/thread_abc/messages',
    '/v1/models',
    '/v1/chat/completions/extra',
    '/v1/files',
    '/app/chat/completions',
    '/openai/deployments/x/messages',
  ])('does not take %s for an LLM endpoint', (path) => {
    expect(endpointOf(path)).toBeUndefined();
  });
});
