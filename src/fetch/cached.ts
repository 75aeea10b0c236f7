/**
 * The response cache around `createFetch()`'s send: a hit is answered here, without the engine (it
 * reserves nothing against the limits); identical requests in flight wait for the first; a miss is sent
 * and its answer recorded as it passes to the caller, then stored if it ended well. Every answer says
 * what happened: `x-sluice-cache: hit|miss|bypass`, and `Age` on hits.
 */
import type { ResponseCache } from '../cache/cache.js';
import { serve, type CachedAnswer, type Shape } from '../cache/entry.js';
import { AnswerRecorder } from '../cache/recorder.js';
import type { CacheDecision } from '../cache/request.js';
import type { LlmKind } from '../protocol/endpoint.js';
import { tapBody } from './tap.js';

export async function cachedFetch(
  cache: ResponseCache,
  decision: CacheDecision,
  kind: LlmKind,
  send: () => Promise<Response>,
): Promise<Response> {
  const { policy, key, shape } = decision;
  if (!policy.read && !policy.write) {
    cache.stats.bypassed++;
    return marked(await send(), 'bypass');
  }
  const claim = await cache.claim(key, policy, shape);
  if ('entry' in claim) return hit(cache, claim.entry, shape);
  const { done } = claim;
  cache.stats.misses++;
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    done();
    throw err;
  }
  const sse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
  const recorder = new AnswerRecorder(
    { kind, status: res.status, headers: res.headers, sse },
    cache.maxEntryBytes,
  );
  if (!policy.write || !recorder.wanted || res.body === null) {
    done();
    return marked(res, 'miss');
  }
  const body = tapBody(res.body, [
    {
      push: (chunk) => recorder.push(chunk),
      finish: () => {
        // Whether the answer ended well is the recorder's to judge, not how reading stopped: an SDK
        // that has read a stream's end (`[DONE]`) may cancel the rest of the body.
        const entry = recorder.entry(cache.now());
        if (entry) void cache.store(key, entry).finally(done);
        else done();
      },
    },
  ]);
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: withCache(res.headers, 'miss'),
  });
}

function hit(cache: ResponseCache, entry: CachedAnswer, shape: Shape): Response {
  cache.hit(entry);
  const served = serve(entry, shape);
  const headers = new Headers(served.headers);
  headers.set('x-sluice-cache', 'hit');
  headers.set('age', String(Math.max(0, Math.floor((cache.now() - entry.storedAt) / 1000))));
  if ('json' in served) return new Response(served.json, { status: served.status, headers });
  const encoder = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const frame = served.frames[i++];
      if (frame === undefined) controller.close();
      else controller.enqueue(encoder.encode(frame));
    },
  });
  return new Response(stream, { status: served.status, headers });
}

function withCache(upstream: Headers, state: 'miss' | 'bypass'): Headers {
  const headers = new Headers(upstream);
  headers.set('x-sluice-cache', state);
  return headers;
}

/** The same Response with `x-sluice-cache` added (a fetched Response's own headers are immutable). */
function marked(res: Response, state: 'miss' | 'bypass'): Response {
  try {
    res.headers.set('x-sluice-cache', state);
  } catch {
    Object.defineProperty(res, 'headers', { value: withCache(res.headers, state), configurable: true });
  }
  return res;
}
