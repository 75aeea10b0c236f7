/**
 * The one adapter from a request on the wire — (method, url, headers, body) — to the engine's request:
 * its lane (upstream, key fingerprint, model), its admission cost, and the caller's wishes. Every shell
 * goes through here, so one request costs the same and lands on the same lane whichever shell sends it.
 */
import { estimateCost } from '../engine/cost.js';
import type { EngineRequest } from '../engine/request.js';
import type { Priority } from '../engine/events.js';
import { jsonObjectOf } from '../formats/json.js';
import { endpointOf, type LlmKind } from './endpoint.js';
import { credentialOf, keyFingerprint, upstreamOf } from './lane.js';
import { readWishes, type Wishes } from './wishes.js';

export interface WireRequest {
  method: string;
  /** The absolute URL the request goes to upstream. */
  url: string | URL;
  /** Case-insensitive lookup of the request's headers (the `x-sluice-*` ones included). */
  headers: { get(name: string): string | null };
  /** A JSON string, UTF-8 bytes, an already parsed object, or anything else (never an LLM call). */
  body: unknown;
}

export interface AdaptOptions {
  /** Priority when the request names none (`x-sluice-priority`). @default 'default' */
  priority?: Priority;
  /** Tenant when the request names none (`x-sluice-tenant`). @default 'default' */
  tenant?: string;
  /** The API key when the headers do not carry it (a shell that adds its own). */
  apiKey?: string;
  /** A real tokenizer instead of the admission rule (characters ÷ 4). */
  countTokens?: (text: string) => number;
}

export interface Adapted {
  /** Whether this is an LLM call (see `endpoint.ts`). Shells pass other requests through unpaced. */
  llm: boolean;
  /** The endpoint kind; `other` when not an LLM call. */
  kind: LlmKind | 'other';
  /** `stream: true` in the body. */
  stream: boolean;
  wishes: Wishes;
  /** The parsed body of an LLM call (the cache keys on it). */
  body?: Record<string, unknown>;
  /** The URL, parsed. */
  url: URL;
  /** The engine's request (without a signal). For a request that is not an LLM call: one request, no tokens. */
  request: EngineRequest;
}

/** Adapts one request. Throws `invalid_option` when an `x-sluice-*` header has a bad value. */
export function adaptRequest(wire: WireRequest, options: AdaptOptions = {}): Adapted {
  const wishes = readWishes(wire.headers);
  const url = typeof wire.url === 'string' ? new URL(wire.url) : wire.url;
  const endpoint = wire.method.toUpperCase() === 'POST' ? endpointOf(url.pathname) : undefined;
  const body = endpoint ? jsonObjectOf(wire.body) : undefined;
  const named = body !== undefined && typeof body['model'] === 'string' && body['model'] !== '';
  const llm = endpoint !== undefined && body !== undefined && (named || endpoint.deployment !== undefined);

  const cost = llm
    ? estimateCost(url.pathname, body, {
        typicalCompletion: 0,
        ...(options.countTokens ? { countTokens: options.countTokens } : {}),
      })
    : undefined;
  const request: EngineRequest = {
    lane: {
      upstream: upstreamOf(url),
      keyFingerprint: keyFingerprint(options.apiKey ?? credentialOf(wire.headers)),
      model: cost?.model ?? 'unknown',
    },
    // Requests without a max are charged the lane's typical completion by the engine (n × typical).
    cost: cost
      ? {
          promptTokens: cost.promptTokens,
          completionTokens: cost.completionTokens,
          n: cost.n,
          maxGiven: cost.maxGiven,
        }
      : { promptTokens: 0, completionTokens: 0, n: 0, maxGiven: true },
    priority: wishes.priority ?? options.priority ?? 'default',
    tenant: wishes.tenant ?? options.tenant ?? 'default',
    ...(wishes.maxWaitMs === undefined ? {} : { maxWaitMs: wishes.maxWaitMs }),
  };
  return {
    llm,
    kind: llm ? endpoint!.kind : 'other',
    stream: cost?.stream ?? false,
    wishes,
    url,
    ...(llm ? { body: body! } : {}),
    request,
  };
}
