/**
 * The response cache around one gateway request: bypass, a hit answered from the cache, or a miss that
 * is sent through the engine and, when its answer may be stored, recorded on its way to the client.
 */
import type { ResponseCache } from '../cache/cache.js';
import { serve, type CachedAnswer, type Shape } from '../cache/entry.js';
import { AnswerRecorder } from '../cache/recorder.js';
import type { CacheDecision } from '../cache/request.js';
import type { BodyObserver } from '../protocol/body-watch.js';
import type { LlmKind } from '../protocol/endpoint.js';
import type { UpstreamAnswer } from './upstream.js';
import { headerGetter, writeText, type ClientAnswer } from './wire.js';

/** What the cache did with a request (`x-sluice-cache` on the answer). */
export type CacheState = 'hit' | 'miss' | 'bypass';

/** Records a success for the cache: an observer of the answer's body, or `undefined` to not store it. */
export type RecorderFor = (answer: UpstreamAnswer) => BodyObserver | undefined;

/** How the cache side reports to the exchange. */
export interface CacheHooks {
  /** What the cache did, for the answer's headers. */
  state(state: 'miss' | 'bypass'): void;
  /** On a miss that may be stored: how to record the answer the engine brings back. */
  recordWith(recorderFor: RecorderFor): void;
  /** Answers a hit. */
  hit(entry: CachedAnswer, shape: Shape): void;
}

/**
 * The response cache around `send`: a hit is answered by `hooks.hit`; a miss is sent and recorded. A
 * bypass (the usual request, when the cache is opt-in) is sent at once, without a layer of its own.
 */
export function throughCache(
  cache: ResponseCache,
  decision: CacheDecision,
  kind: LlmKind,
  send: () => Promise<void>,
  hooks: CacheHooks,
): Promise<void> {
  const { policy, key, shape } = decision;
  if (!policy.read && !policy.write) {
    cache.stats.bypassed++;
    hooks.state('bypass');
    return send();
  }
  return (async () => {
    const claim = await cache.claim(key, policy, shape);
    if ('entry' in claim) return hooks.hit(claim.entry, shape);
    const { done } = claim;
    cache.stats.misses++;
    hooks.state('miss');
    let recording = false;
    if (policy.write) {
      hooks.recordWith((answer) => {
        const sse = String(answer.headers['content-type'] ?? '').includes('text/event-stream');
        const recorder = new AnswerRecorder(
          { kind, status: answer.status, headers: headerGetter(answer.headers), sse },
          cache.maxEntryBytes,
        );
        if (!recorder.wanted) return undefined;
        recording = true;
        return {
          push: (chunk) => recorder.push(chunk),
          finish: () => {
            // Whether the answer ended well is the recorder's to judge, not how reading stopped: an SDK
            // that has read a stream's end (`[DONE]`) may cancel the rest of the body.
            const entry = recorder.entry(cache.now());
            if (entry) void cache.store(key, entry).finally(done);
            else done();
          },
        };
      });
    }
    try {
      await send();
    } finally {
      if (!recording) done();
    }
  })();
}

/** Writes a cache hit in the shape the client asked for; returns its status. */
export function writeHit(res: ClientAnswer, cache: ResponseCache, entry: CachedAnswer, shape: Shape): number {
  cache.hit(entry);
  const served = serve(entry, shape);
  const head = {
    ...served.headers,
    'x-sluice-cache': 'hit',
    age: String(Math.max(0, Math.floor((cache.now() - entry.storedAt) / 1000))),
  };
  if ('json' in served) writeText(res, served.status, served.json, head);
  else {
    res.writeHead(served.status, head);
    for (const frame of served.frames) res.write(frame);
    res.end();
  }
  return served.status;
}
