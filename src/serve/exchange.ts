/**
 * One client request through the gateway: route it (the upstream is fixed), identify the caller, read
 * the body when the engine needs it (LLM calls), run it through the engine — paced, queued, retried —
 * and hand the upstream's answer back as it arrives. Requests that are not LLM calls are forwarded as
 * they are, streamed both ways. The request's state lives on the exchange; its record (what logs and
 * metrics are built from) is written once, when the answer ends.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AttemptResult, EngineRequest, Execution } from '../engine/request.js';
import { isSluiceError } from '../engine/errors.js';
import { parseJsonObject } from '../formats/json.js';
import { adaptRequest, type Adapted } from '../protocol/adapt.js';
import { BodyWatcher } from '../protocol/body-watch.js';
import { endpointOf } from '../protocol/endpoint.js';
import { outcomeHeaders } from '../protocol/response.js';
import type { VirtualKey } from './config.js';
import { authHeader, clampPriority } from './keys.js';
import type { GatewayContext, RequestRecord } from './context.js';
import { throughCache, writeHit, type CacheState, type RecorderFor } from './cached.js';
import { writeDraining, writeFailure } from './failure.js';
import { routeOf } from './route.js';
import type { Tracked } from './in-flight.js';
import type { ResponseCache } from '../cache/cache.js';
import type { CachedAnswer, Shape } from '../cache/entry.js';
import { cacheDecision, type CacheDecision } from '../cache/request.js';
import type { LlmKind } from '../protocol/endpoint.js';
import { readText, type UpstreamAnswer } from './upstream.js';
import {
  clientHeaders,
  errorBody,
  type ClientAnswer,
  type ClientRequest,
  headerGetter,
  readBody,
  relay,
  upstreamHeaders,
  writeJson,
} from './wire.js';

/** Why a request's signal fired. */
export class ClientGone extends Error {
  override readonly name = 'ClientGone';
}
export class Draining extends Error {
  override readonly name = 'Draining';
}

/** A non-2xx answer, read whole (error bodies are small) so the engine can classify it. */
interface ReadAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export class Exchange implements Tracked {
  readonly controller = new AbortController();
  inFlightAt = -1;
  readonly #ctx: GatewayContext;
  readonly #req: ClientRequest;
  readonly #res: ClientAnswer;
  readonly #arrived = performance.now();
  readonly #record: RequestRecord;
  /** What the response cache did (`x-sluice-cache` on the answer), when the gateway has one. */
  #cacheState: CacheState | undefined;
  /** Records a success for the cache; set on a cache miss that may be stored. */
  #recorderFor: RecorderFor | undefined;

  constructor(ctx: GatewayContext, req: ClientRequest, res: ClientAnswer) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
    this.#record = {
      method: req.method ?? 'GET',
      path: '',
      outcome: 'refused',
      status: 0,
      queuedMs: 0,
      attempts: 0,
      durationMs: 0,
      ttfbMs: 0,
      upstreamMs: 0,
    };
    res.on('close', () => {
      if (!res.writableFinished) this.controller.abort(new ClientGone('the client closed the connection'));
    });
  }

  async run(): Promise<void> {
    const ctx = this.#ctx;
    const req = this.#req;
    const route = routeOf(req.url ?? '/', ctx.upstream);
    if (!route.ok) {
      this.#record.path = (req.url ?? '').slice(0, 200);
      const code = route.status === 404 ? 'not_found' : 'invalid_path';
      return this.#refuse(route.status, 'invalid_request_error', code, route.message);
    }
    this.#record.path = route.path;
    const headers = headerGetter(req.headers);
    const caller = ctx.keys().identify(headers);
    if (!caller.ok) return this.#refuse(401, 'invalid_request_error', 'invalid_api_key', caller.message);
    const app = caller.app;
    if (app) this.#record.app = app.name;

    if (Number(req.headers['content-length']) > ctx.maxBodyBytes) return this.#tooLarge();
    let body: Buffer | undefined;
    if (this.#record.method === 'POST' && endpointOf(route.url.pathname) !== undefined) {
      body = await readBody(req, ctx.maxBodyBytes);
      if (body === undefined) return this.#tooLarge();
    }

    let adapted: Adapted;
    try {
      adapted = adaptRequest(
        { method: this.#record.method, url: route.url, headers, body },
        app ? { apiKey: app.upstreamKey, tenant: app.name, priority: app.priority } : {},
      );
    } catch (err) {
      if (!isSluiceError(err)) throw err;
      return this.#refuse(400, 'invalid_request_error', err.code, err.message);
    }
    const out = upstreamHeaders(req.headers, app && authHeader(ctx.flavor, app.upstreamKey));
    if (!adapted.llm) return this.#passThrough(route.url, out, body);
    const request = this.#engineRequest(adapted.request, app);
    const send = () => this.#throughEngine(request, route.url, out, body!);
    const cache = ctx.cache;
    if (!cache) return send();
    let decision: CacheDecision;
    try {
      decision = cacheDecision(cache, {
        method: this.#record.method,
        url: adapted.url,
        headers,
        kind: adapted.kind as LlmKind,
        body: adapted.body!,
        caller: app?.name ?? request.lane.keyFingerprint,
        enabled: app?.cache ?? ctx.cacheByDefault,
      });
    } catch (err) {
      if (!isSluiceError(err)) throw err;
      return this.#refuse(400, 'invalid_request_error', err.code, err.message);
    }
    return throughCache(cache, decision, adapted.kind as LlmKind, send, {
      state: (state) => (this.#cacheState = state),
      recordWith: (recorderFor) => (this.#recorderFor = recorderFor),
      hit: (entry, shape) => this.#hit(cache, entry, shape),
    });
  }

  #hit(cache: ResponseCache, entry: CachedAnswer, shape: Shape): void {
    this.#record.ttfbMs = performance.now() - this.#arrived;
    this.#record.tokens = 0;
    this.#finish(writeHit(this.#res, cache, entry, shape), 'cache_hit');
  }

  #engineRequest(request: EngineRequest, app: VirtualKey | undefined): EngineRequest {
    if (app) {
      request.priority = clampPriority(request.priority ?? 'default', app.priority);
      request.tenant = app.name;
      request.weight = app.weight;
    }
    request.maxWaitMs ??= this.#ctx.maxWaitMs;
    request.signal = this.controller.signal;
    this.#record.lane = this.#ctx.engine.laneId(request.lane);
    this.#record.model = request.lane.model;
    this.#record.priority = request.priority ?? 'default';
    return request;
  }

  async #throughEngine(
    request: EngineRequest,
    url: URL,
    headers: OutgoingHttpHeaders,
    body: Buffer,
  ): Promise<void> {
    const ctx = this.#ctx;
    // The engine reads usage from the body: the upstream must not compress it.
    headers['accept-encoding'] = 'identity';
    let execution: Execution<UpstreamAnswer | ReadAnswer>;
    try {
      execution = await ctx.engine.execute(request, () => this.#attempt(url, headers, body));
    } catch (err) {
      this.#record.ttfbMs = performance.now() - this.#arrived;
      return this.#failed(err);
    }
    const record = this.#record;
    record.queuedMs = execution.queuedMs;
    record.attempts = execution.attempts;
    record.ttfbMs = performance.now() - this.#arrived;
    const answer = execution.value;
    const head = clientHeaders(answer.headers, this.#sluiceHeaders(execution), ctx.draining());
    if ('text' in answer) {
      // A fatal answer (400, 401, 404, …): the upstream's own, unchanged.
      execution.done();
      this.#res.writeHead(answer.status, head);
      this.#res.end(answer.text);
      return this.#finish(answer.status, 'fatal');
    }
    this.#res.writeHead(answer.status, head);
    const sse = String(answer.headers['content-type'] ?? '').includes('text/event-stream');
    const cost = request.cost;
    if (cost.maxGiven) record.tokens = cost.promptTokens + cost.completionTokens;
    const recorder = this.#recorderFor?.(answer);
    const listeners: ((chunk: Buffer) => void)[] = [];
    if (recorder) listeners.push((chunk) => recorder.push(chunk));
    let watcher: BodyWatcher | undefined;
    if (sse || execution.wantsUsage || execution.holdsSlot) {
      const w = new BodyWatcher(sse, {
        usage: (usage) => {
          const total = usage.totalTokens ?? (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0);
          if (total > 0) record.tokens = total;
          execution.settle(usage);
        },
        error: (cls) => execution.streamError(cls),
        end: () => execution.done(),
      });
      listeners.push((chunk) => w.push(chunk));
      watcher = w;
    } else execution.done();
    await relay(
      answer,
      this.#res,
      listeners.length === 0
        ? undefined
        : listeners.length === 1
          ? listeners[0]
          : (chunk) => listeners.forEach((l) => l(chunk)),
    );
    watcher?.finish();
    recorder?.finish(answer.body.complete && this.#res.writableFinished);
    this.#finish(answer.status, 'success');
  }

  /** `x-sluice-*` headers of an answer that went through the engine (and the cache, when there is one). */
  #sluiceHeaders(execution: { queuedMs: number; attempts: number }): [string, string][] {
    const headers = outcomeHeaders(execution);
    if (this.#cacheState) headers.push(['x-sluice-cache', this.#cacheState]);
    return headers;
  }

  /** One upstream exchange, for the engine: a 2xx keeps its body streaming, anything else is read. */
  async #attempt(
    url: URL,
    headers: OutgoingHttpHeaders,
    body: Buffer,
  ): Promise<AttemptResult<UpstreamAnswer | ReadAnswer>> {
    const sent = performance.now();
    const answer = await this.#ctx.client.send({
      method: this.#record.method,
      url,
      headers,
      body,
      signal: this.controller.signal,
    });
    this.#record.upstreamMs += performance.now() - sent;
    if (answer.status >= 200 && answer.status < 300)
      return { status: answer.status, headers: answer.headers, lowerCaseHeaders: true, value: answer };
    const text = await readText(answer.body);
    return {
      status: answer.status,
      headers: answer.headers,
      lowerCaseHeaders: true,
      body: parseJsonObject(text, 65_536) ?? text,
      value: { status: answer.status, headers: answer.headers, text },
    };
  }

  async #passThrough(url: URL, headers: OutgoingHttpHeaders, body: Buffer | undefined): Promise<void> {
    const req = this.#req;
    const streamed =
      body === undefined &&
      (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
    if (streamed) {
      if (req.headers['content-length'] !== undefined)
        headers['content-length'] = req.headers['content-length'];
      else headers['transfer-encoding'] = 'chunked';
      this.#limitBody();
    }
    let answer: UpstreamAnswer;
    try {
      const sent = performance.now();
      answer = await this.#ctx.client.send({
        method: this.#record.method,
        url,
        headers,
        body: body ?? (streamed ? req : undefined),
        signal: this.controller.signal,
      });
      this.#record.upstreamMs = performance.now() - sent;
    } catch (err) {
      this.#record.ttfbMs = performance.now() - this.#arrived;
      if (this.controller.signal.aborted) return this.#finish(499, 'client_closed');
      writeJson(
        this.#res,
        502,
        errorBody(
          'sluice_error',
          'upstream_error',
          `The upstream could not be reached: ${(err as Error).message}.`,
        ),
      );
      return this.#finish(502, 'upstream_error');
    }
    this.#record.ttfbMs = performance.now() - this.#arrived;
    this.#res.writeHead(answer.status, clientHeaders(answer.headers, [], this.#ctx.draining()));
    await relay(answer, this.#res);
    this.#finish(answer.status, 'passthrough');
  }

  /** A streamed body over the limit aborts the exchange. */
  #limitBody(): void {
    let size = 0;
    this.#req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.#ctx.maxBodyBytes) this.controller.abort(new ClientGone('body too large'));
    });
  }

  async #failed(err: unknown): Promise<void> {
    const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : undefined;
    if (reason instanceof ClientGone) return this.#finish(499, 'client_closed');
    if (reason instanceof Draining) {
      writeDraining(this.#res);
      return this.#finish(503, 'shutting_down');
    }
    if (!isSluiceError(err)) throw err;
    const lane = err.lane === undefined ? undefined : await this.#ctx.engine.laneStats(err.lane);
    writeFailure(this.#res, err, lane);
    this.#finish(this.#res.statusCode, err.code);
  }

  #tooLarge(): void {
    this.#refuse(
      413,
      'invalid_request_error',
      'request_too_large_for_gateway',
      `The request body is larger than this gateway accepts (${this.#ctx.maxBodyBytes} bytes). Send less, or raise --max-body.`,
    );
  }

  #refuse(status: number, type: string, code: string, message: string): void {
    this.#record.ttfbMs = performance.now() - this.#arrived;
    this.#req.resume();
    writeJson(this.#res, status, errorBody(type, code, message));
    this.#finish(status, code);
  }

  #finish(status: number, outcome: string): void {
    this.#record.status = status;
    this.#record.outcome = outcome;
    this.#record.durationMs = performance.now() - this.#arrived;
    this.#ctx.record(this.#record);
  }
}
