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
import { estimateCost, kindOfPath } from '../engine/cost.js';
import { Engine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/options.js';
import type { AttemptResult, Execution } from '../engine/request.js';
import { isSluiceError, type SluiceError } from '../engine/errors.js';
import type { Priority } from '../engine/events.js';
import { parseJsonObject } from '../engine/headers.js';
import { credentialOf, keyFingerprint, upstreamOf } from './lane.js';
import { tapBody } from './tap.js';
import { readRequestHeaders } from './request-headers.js';
import { readWishes } from './wishes.js';

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
}

/** A fetch function with its engine attached (for events, stats and lane resets). */
export type SluiceFetch = typeof globalThis.fetch & { readonly engine: Engine };

type FetchInput = Parameters<typeof globalThis.fetch>[0];
type FetchInit = NonNullable<Parameters<typeof globalThis.fetch>[1]>;

interface ErrorAnswer {
  status: number;
  statusText: string;
  headers: Headers;
  text: string;
}

export function createFetch(options: CreateFetchOptions = {}): SluiceFetch {
  const engine = options.engine ?? new Engine(options);
  const baseFetch = options.fetch ?? globalThis.fetch;
  const throwErrors = options.errors === 'throw';

  const sluiceFetch = async (input: FetchInput, init?: FetchInit): Promise<Response> => {
    let url: string;
    let requestInit: FetchInit;
    if (typeof input === 'string') {
      url = input;
      requestInit = { ...init };
    } else if (input instanceof URL) {
      url = input.href;
      requestInit = { ...init };
    } else {
      // A Request object: take its parts so the body can be read once and re-sent on retries.
      url = input.url;
      requestInit = {
        method: input.method,
        headers: input.headers,
        signal: input.signal,
        ...(input.body ? { body: await input.arrayBuffer() } : {}),
        ...init,
      };
    }
    const method = (requestInit.method ?? 'GET').toUpperCase();
    const headers = readRequestHeaders(requestInit.headers);
    let wishes;
    try {
      wishes = readWishes(headers);
    } catch (err) {
      return failure(err);
    }
    if (headers.upstream === undefined) delete requestInit.headers;
    else requestInit.headers = headers.upstream;

    // The cost module matches endpoints by path suffix and ignores the origin and query, so the URL goes as is.
    const kind = method === 'POST' ? kindOfPath(url) : 'other';
    const rawBody = requestInit.body;
    // Bodies the engine cannot re-send (streams) or that are not LLM calls go straight through.
    if (
      kind === 'other' ||
      (rawBody != null &&
        typeof rawBody !== 'string' &&
        !(rawBody instanceof ArrayBuffer) &&
        !ArrayBuffer.isView(rawBody))
    ) {
      return baseFetch(url, requestInit);
    }
    const text =
      typeof rawBody === 'string'
        ? rawBody
        : rawBody == null
          ? ''
          : new TextDecoder().decode(rawBody as ArrayBuffer);
    const parsed = parseJsonObject(text);
    const cost = estimateCost(url, parsed, {
      typicalCompletion: 0,
      ...(options.countTokens ? { countTokens: options.countTokens } : {}),
    });
    const signal = requestInit.signal ?? undefined;
    const request = {
      lane: {
        upstream: upstreamOf(url),
        keyFingerprint: keyFingerprint(credentialOf(headers)),
        model: cost.model ?? 'unknown',
      },
      cost: cost.kind === 'other' ? { ...cost, n: 0 } : cost,
      priority: wishes.priority ?? options.priority ?? 'default',
      tenant: wishes.tenant ?? options.tenant ?? 'default',
      ...(wishes.maxWaitMs === undefined ? {} : { maxWaitMs: wishes.maxWaitMs }),
      ...(signal ? { signal } : {}),
    };

    let execution: Execution<Response | ErrorAnswer>;
    try {
      execution = await engine.execute(request, async (): Promise<AttemptResult<Response | ErrorAnswer>> => {
        const res = await baseFetch(url, requestInit);
        if (res.ok) return { status: res.status, headers: res.headers, value: res };
        const body = await res.text();
        const answer: ErrorAnswer = {
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
          text: body,
        };
        return {
          status: res.status,
          headers: res.headers,
          body: parseJsonObject(body) ?? body,
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
      ? tapBody(value.body!, sse, {
          usage: (usage) => execution.settle(usage),
          error: (cls) => execution.streamError(cls),
          end: () => execution.done(),
        })
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
  };

  function failure(err: unknown): Response {
    if (!isSluiceError(err) || throwErrors) throw err;
    return errorResponse(err);
  }

  return Object.assign(sluiceFetch, { engine }) as SluiceFetch;
}

/** A Sluice failure as an OpenAI-shaped error response, with `Retry-After` when a wait is known. */
export function errorResponse(err: SluiceError): Response {
  const headers = new Headers({ 'content-type': 'application/json', 'x-sluice-error-code': err.code });
  if (err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs)) {
    headers.set('retry-after', String(Math.max(0, Math.ceil(err.retryAfterMs / 1000))));
    headers.set('retry-after-ms', String(Math.max(0, Math.ceil(err.retryAfterMs))));
  }
  if (err.requestId) headers.set('x-request-id', err.requestId);
  // Upstream 5xx that outlived every retry keep their status so SDKs raise the matching error class.
  const status = err.code === 'upstream_error' && err.status ? err.status : err.httpStatus;
  return new Response(JSON.stringify(err.toJSON()), { status, headers });
}

function withSluice(upstream: Headers, execution: Execution<unknown>, rebodied = true): Headers {
  const headers = new Headers(upstream);
  if (rebodied) {
    // A new Response over the decoded body: the upstream's encoding and length no longer describe it.
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  headers.set('x-sluice-queued-ms', String(Math.round(execution.queuedMs)));
  headers.set('x-sluice-attempts', String(execution.attempts));
  return headers;
}
