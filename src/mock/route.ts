/**
 * The emulator's routing: which answer a method and path ask for, per flavor (OpenAI paths, Azure
 * deployments and the v1 preview, Anthropic's `/v1/messages`, the model list, `/__mock/*`).
 */
import type { MockFlavor } from './options.js';
import type { Endpoint } from './request.js';

/** What a request asks for: an API answer (with the Azure deployment it names), a model, the counters. */
export type Route =
  | { kind: 'api'; endpoint: Endpoint; deployment: string | undefined }
  | { kind: 'models' }
  | { kind: 'model'; id: string }
  | { kind: 'stats' }
  | { kind: 'reset' }
  | { kind: 'none' };

const API_PATHS: Record<string, Endpoint> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
};

const AZURE_OPERATIONS: Record<string, Endpoint> = {
  'chat/completions': 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
};

/** `decodeURIComponent` that answers `undefined` for malformed escapes instead of throwing. */
function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** What `method` on `rawPath` (query string removed) asks of a `flavor` emulator. */
export function route(method: string, rawPath: string, flavor: MockFlavor): Route {
  if (rawPath === '/__mock/stats' && method === 'GET') return { kind: 'stats' };
  if (rawPath === '/__mock/reset' && method === 'POST') return { kind: 'reset' };
  let path = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  if (flavor === 'azure' && path.startsWith('/openai/')) {
    // AzureOpenAI: /openai/deployments/<deployment>/<operation>; the v1 preview: /openai/v1/<operation>.
    const deployment = /^\/openai\/deployments\/([^/]+)\/(.+)$/.exec(path);
    if (deployment !== null) {
      const endpoint = AZURE_OPERATIONS[deployment[2]!];
      const name = decode(deployment[1]!);
      if (endpoint === undefined || method !== 'POST' || name === undefined) return { kind: 'none' };
      return { kind: 'api', endpoint, deployment: name };
    }
    path = path.slice('/openai'.length);
  }
  if (method === 'POST') {
    const endpoint =
      API_PATHS[path] ?? (path === '/v1/messages' && flavor === 'anthropic' ? 'messages' : undefined);
    return endpoint === undefined ? { kind: 'none' } : { kind: 'api', endpoint, deployment: undefined };
  }
  if (method === 'GET') {
    if (path === '/v1/models') return { kind: 'models' };
    const id = path.startsWith('/v1/models/') ? decode(path.slice('/v1/models/'.length)) : undefined;
    if (id !== undefined) return { kind: 'model', id };
  }
  return { kind: 'none' };
}
