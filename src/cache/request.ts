/**
 * One request's view of the cache, the same in every shell: whether the cache may answer or store it,
 * its key, and the shape it wants. Shells then serve a hit (`serve()` in entry.ts), or send the
 * request and record its answer (`AnswerRecorder`).
 */
import { isRecord } from '../formats/json.js';
import type { LlmKind } from '../protocol/endpoint.js';
import type { ResponseCache } from './cache.js';
import type { Shape } from './entry.js';
import { cacheKey } from './key.js';
import { BYPASS, cachePolicy, type CachePolicy } from './policy.js';

export interface CacheRequest {
  method: string;
  url: URL;
  headers: { get(name: string): string | null };
  kind: LlmKind;
  body: Record<string, unknown>;
  /** Whose entries these are when no namespace is shared: the key fingerprint or the app's name. */
  caller: string;
  /** The caller opted in (client option, virtual key) unless the request says otherwise. */
  enabled: boolean;
}

export interface CacheDecision {
  policy: CachePolicy;
  key: string;
  shape: Shape;
}

/** The request's policy, key and shape. Throws `invalid_option` for a bad `x-sluice-cache`. */
export function cacheDecision(cache: ResponseCache, request: CacheRequest): CacheDecision {
  const policy = cachePolicy(request.headers, request.enabled);
  const options = request.body['stream_options'];
  const shape: Shape = {
    stream: request.body['stream'] === true,
    usage: isRecord(options) && options['include_usage'] === true,
  };
  if (!policy.read && !policy.write) return { policy: BYPASS, key: '', shape };
  const key = cacheKey({
    scope: `${request.url.origin} ${cache.namespace === undefined ? `caller:${request.caller}` : `ns:${cache.namespace}`}`,
    method: request.method,
    path: request.url.pathname,
    query: request.url.search,
    body: request.body,
  });
  return { policy, key, shape };
}
