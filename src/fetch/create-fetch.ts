/**
 * `createFetch()`: the engine as a `fetch` function. Drop it into the `openai` SDK
 * (`new OpenAI({ fetch: createFetch(), maxRetries: 0 })`) or the Vercel AI SDK
 * (`createOpenAI({ fetch: createFetch() })`): requests are paced under the lane's limits, 429s wait
 * instead of failing, transient failures are retried, quota errors fail fast. Responses stream through
 * as they arrive.
 *
 * Failures Sluice decides on itself are answered, by default, as HTTP responses in OpenAI's error shape
 * (status 429 and `error.code` = the Sluice code, e.g. `quota_exhausted`), so SDKs raise their usual
 * errors with `err.code` set. With `errors: 'throw'` they are thrown as `SluiceError` instead.
 */
import { Engine } from '../engine/engine.js';
import { isSluiceError, sluiceError, type SluiceError } from '../engine/errors.js';
import { PRIORITIES, type Priority } from '../engine/events.js';
import type { EngineOptions } from '../engine/options.js';
import type { AttemptResult, EngineRequest, Execution } from '../engine/request.js';
import { parseJsonObject } from '../formats/json.js';
import { adaptRequest, type AdaptOptions } from '../protocol/adapt.js';
import { endpointOf, type LlmKind } from '../protocol/endpoint.js';
import { readRequestHeaders } from '../protocol/request-headers.js';
import { errorAnswer, outcomeHeaders } from '../protocol/response.js';
import { readWishes } from '../protocol/wishes.js';
import { BodyWatcher } from '../protocol/body-watch.js';
import { ResponseCache, type CacheOptions } from '../cache/cache.js';
import { cacheDecision } from '../cache/request.js';
import { cachedFetch } from './cached.js';
import { tapBody, watcherObserver } from './tap.js';

export interface CreateFetchOptions extends EngineOptions {
  /** The fetch that reaches the upstream. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Share one engine (its lanes, limits and store) between several fetch functions. */
  engine?: Engine;
  /**
   * Counts prompt tokens with a real tokenizer instead of OpenAI's admission rule (characters ÷ 4).
   * @default the character rule, which is what OpenAI charges at admission
   */
  countTokens?: (text: string) => number;
  /** Priority of requests that do not say (`x-sluice-priority`). @default 'default' */
  priority?: Priority;
  /** Tenant of requests that do not say (`x-sluice-tenant`). @default 'default' */
  tenant?: string;
  /**
   * How failures decided by Sluice reach the caller: as OpenAI-shaped error responses (what SDKs expect)
   * or thrown as `SluiceError`.
   * @default 'response'
   */
  errors?: 'response' | 'throw';
  /**
   * Answer repeated requests from a response cache: `true` for the defaults (memory, one hour), cache
   * options (`ttlMs`, `maxBytes`, `backend`, `namespace`), or a `ResponseCache` shared with others.
   * Requests opt out with `x-sluice-cache: off` (or `Cache-Control: no-store`); `refresh` re-asks.
   * Entries are scoped to the API key unless a `namespace` is shared. @default no cache
   */
  cache?: boolean | CacheOptions | ResponseCache;
}

/** A fetch function with its engine attached (for events, stats and lane resets). */
export type SluiceFetch = typeof globalThis.fetch & { readonly engine: Engine };

type FetchInput = Parameters<typeof globalThis.fetch>[0];
type FetchInit = NonNullable<Parameters<typeof globalThis.fetch>[1]>;

interface FatalAnswer {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

export function createFetch(options: CreateFetchOptions = {}): SluiceFetch {
  validateFetchOptions(options);
  const engine = options.engine ?? new Engine(options);
  const baseFetch = options.fetch ?? globalThis.fetch;
  const throwErrors = options.errors === 'throw';
  const cache =
    options.cache === undefined || options.cache === false
      ? undefined
      : options.cache instanceof ResponseCache
        ? options.cache
        : new ResponseCache(options.cache === true ? {} : options.cache);

  const adaptOptions: AdaptOptions = {
    ...(options.priority ? { priority: options.priority } : {}),
    ...(options.tenant ? { tenant: options.tenant } : {}),
    ...(options.countTokens ? { countTokens: options.countTokens } : {}),
  };

  const sluiceFetch = async (input: FetchInput, init?: FetchInit): Promise<Response> => {
    let url: string;
    let requestInit: FetchInit;
    if (typeof input === 'string' || input instanceof URL) {
      url = typeof input === 'string' ? input : input.href;
      requestInit = { ...init };
    } else {
      url = input.url;
      requestInit = { ...requestFields(input), ...init };
      if (input.body !== null && init?.body === undefined) {
        if (!mayBeLlmCall(requestInit.method, url)) return passThrough(input, requestInit);
        // Read once, so that the body can be re-sent on retries.
        requestInit.body = await input.arrayBuffer();
      }
    }
    const headers = readRequestHeaders(requestInit.headers);
    let adapted;
    try {
      adapted = adaptRequest(
        { method: requestInit.method ?? 'GET', url, headers, body: requestInit.body },
        adaptOptions,
      );
    } catch (err) {
      return failure(err);
    }
    if (headers.upstream === undefined) delete requestInit.headers;
    else requestInit.headers = headers.upstream;
    // Requests that are not LLM calls, and bodies the engine cannot re-send (streams), go straight through.
    if (!adapted.llm || !resendable(requestInit.body)) return baseFetch(url, requestInit);
    if (!cache) return throughEngine(adapted.request, url, requestInit);
    let decision;
    try {
      decision = cacheDecision(cache, {
        method: requestInit.method ?? 'POST',
        url: adapted.url,
        headers,
        kind: adapted.kind as LlmKind,
        body: adapted.body!,
        caller: adapted.request.lane.keyFingerprint,
        enabled: true,
      });
    } catch (err) {
      return failure(err);
    }
    return cachedFetch(cache, decision, adapted.kind as LlmKind, () =>
      throughEngine(adapted.request, url, requestInit),
    );
  };

  /** One LLM call through the engine: paced, retried, its body watched for usage and errors. */
  async function throughEngine(
    engineRequest: EngineRequest,
    url: string,
    requestInit: FetchInit,
  ): Promise<Response> {
    const signal = requestInit.signal ?? undefined;
    const request = signal ? { ...engineRequest, signal } : engineRequest;

    let execution: Execution<Response | FatalAnswer>;
    try {
      execution = await engine.execute(request, async (): Promise<AttemptResult<Response | FatalAnswer>> => {
        const res = await baseFetch(url, requestInit);
        if (res.ok) return { status: res.status, headers: res.headers, value: res };
        const body = await res.text();
        const answer: FatalAnswer = {
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
          text: body,
        };
        return {
          status: res.status,
          headers: res.headers,
          body: parseJsonObject(body, MAX_ERROR_BODY_CHARS) ?? body,
          value: answer,
        };
      });
    } catch (err) {
      return failure(err);
    }

    const value = execution.value;
    if (!(value instanceof Response)) {
      // A fatal answer (400, 401, 404, …): passed through unchanged.
      execution.done();
      return new Response(value.text, {
        status: value.status,
        statusText: value.statusText,
        headers: withSluice(value.headers, execution),
      });
    }
    const sse = (value.headers.get('content-type') ?? '').includes('text/event-stream');
    // Streams are always watched (usage, error events); other bodies only when the engine needs them.
    const watch = value.body !== null && (sse || execution.wantsUsage || execution.holdsSlot);
    const body = watch
      ? tapBody(value.body!, [
          watcherObserver(
            new BodyWatcher(sse, {
              usage: (usage) => execution.settle(usage),
              error: (cls) => execution.streamError(cls),
              end: () => execution.done(),
            }),
          ),
        ])
      : value.body;
    if (!watch) {
      execution.done();
      // Hand back the upstream's own Response (its body keeps fetch's fast read path) with the
      // x-sluice-* headers added. A fetched Response's headers are immutable, so an own `headers`
      // property shadows the prototype getter; the body, status and everything else are untouched.
      Object.defineProperty(value, 'headers', { value: withSluice(value.headers, execution, false) });
      return value;
    }
    return new Response(body, {
      status: value.status,
      statusText: value.statusText,
      headers: withSluice(value.headers, execution),
    });
  }

  function failure(err: unknown): Response {
    if (!isSluiceError(err) || throwErrors) throw err;
    return errorResponse(err);
  }

  /** A Request that is not an LLM call: handed on as it is, without its `x-sluice-*` headers. */
  async function passThrough(request: Request, init: FetchInit): Promise<Response> {
    const headers = readRequestHeaders(init.headers);
    try {
      readWishes(headers);
    } catch (err) {
      return failure(err);
    }
    return baseFetch(
      request,
      headers.upstream === init.headers ? init : { ...init, headers: headers.upstream! },
    );
  }

  return Object.assign(sluiceFetch, { engine }) as SluiceFetch;
}

/** Error bodies are small; a longer one is kept as text. */
const MAX_ERROR_BODY_CHARS = 65_536;

/** A Sluice failure as an OpenAI-shaped error response, with `Retry-After` when a wait is known. */
export function errorResponse(err: SluiceError): Response {
  const answer = errorAnswer(err);
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/**
 * Every option of a `Request` as `RequestInit` fields, so that a request rebuilt from it (to re-send its
 * body on retries) behaves as the original would: redirect mode, credentials, cache, keepalive, …
 */
function requestFields(request: Request): FetchInit {
  return {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    redirect: request.redirect,
    credentials: request.credentials,
    cache: request.cache,
    integrity: request.integrity,
    keepalive: request.keepalive,
    mode: request.mode,
    referrer: request.referrer,
    referrerPolicy: request.referrerPolicy,
  };
}

/** Whether a request with this method and URL can be an LLM call at all (its body decides the rest). */
function mayBeLlmCall(method: string | undefined, url: string): boolean {
  if ((method ?? 'GET').toUpperCase() !== 'POST') return false;
  try {
    return endpointOf(new URL(url).pathname) !== undefined;
  } catch {
    return false;
  }
}

function resendable(body: FetchInit['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

function withSluice(upstream: Headers, execution: Execution<unknown>, rebodied = true): Headers {
  const headers = new Headers(upstream);
  if (rebodied) {
    // A new Response over the decoded body: the upstream's encoding and length no longer describe it.
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  for (const [name, value] of outcomeHeaders(execution)) headers.set(name, value);
  return headers;
}

/** Checks the options createFetch() adds to the engine's (the engine checks its own). */
function validateFetchOptions(options: CreateFetchOptions): void {
  const fail = (message: string) => {
    throw sluiceError('invalid_option', message);
  };
  if (options.priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(options.priority))
    fail(
      `Expected \`priority\` to be one of ${PRIORITIES.join(', ')}, got ${JSON.stringify(options.priority)}.`,
    );
  if (options.tenant !== undefined && (typeof options.tenant !== 'string' || options.tenant.trim() === ''))
    fail(`Expected \`tenant\` to be a non-empty string, got ${JSON.stringify(options.tenant)}.`);
  if (options.errors !== undefined && options.errors !== 'response' && options.errors !== 'throw')
    fail(`Expected \`errors\` to be 'response' or 'throw', got ${JSON.stringify(options.errors)}.`);
  for (const name of ['fetch', 'countTokens'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function')
      fail(`Expected \`${name}\` to be a function, got ${typeof options[name]}.`);
  }
  const cache = options.cache;
  if (cache !== undefined && typeof cache !== 'boolean' && (typeof cache !== 'object' || cache === null))
    fail(`Expected \`cache\` to be true, cache options or a ResponseCache, got ${JSON.stringify(cache)}.`);
  if (options.engine !== undefined && !(options.engine instanceof Engine))
    fail("Expected `engine` to be an Engine (from createEngine() or another fetch function's `.engine`).");
}
