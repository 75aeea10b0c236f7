/**
 * The emulator's HTTP face: a plain `node:http` server. One request's way:
 * route → read body → key check (401) → JSON and parameter checks (400) → injected 5xx → limiter
 * (quota, too large, buckets, slow_down) → answer after the configured latency, paced, maybe cut.
 *
 * Hot path hazards: headers are built as flat arrays and bodies as strings; nothing here may allocate per
 * request beyond the body, its parse and the answer.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { invalidJsonError } from '../formats/openai-errors.js';
import type { Dialect, ErrorReply } from './dialect.js';
import { anthropicDialect } from './dialects/anthropic.js';
import { azureDialect } from './dialects/azure.js';
import { openaiDialect, reply } from './dialects/openai.js';
import { completionCounts, generate, mulberry32, type Generation } from './generate.js';
import { Limiter, type Decision, type Lane } from './limiter.js';
import {
  MAX_TIMER_MS,
  resolveMockOptions,
  type MockFlavor,
  type MockOptions,
  type ResolvedMockOptions,
} from './options.js';
import { modelObject, renderJson, renderModels, renderStream, type RenderContext } from './render.js';
import { admissionCost, isBadRequest, parseRequest, type Endpoint, type ParsedRequest } from './request.js';
import { StatsRecorder, type MockStats } from './stats.js';

/** A running emulator. */
export interface MockServer {
  /**
   * Base URL for OpenAI-style clients, `/v1` included: `new OpenAI({ baseURL: mock.url, apiKey: 'sk-test' })`.
   * @example 'http://127.0.0.1:54321/v1'
   */
  readonly url: string;
  /** Scheme, host and port only: the base for Anthropic SDKs and Azure endpoints. */
  readonly origin: string;
  readonly port: number;
  /** Counters, the same JSON as `GET /__mock/stats`. */
  stats(): MockStats;
  /** Empties every bucket and quota and clears the counters (also `POST /__mock/reset`). */
  reset(): void;
  /** Stops listening and cuts open connections, streams included. */
  close(): Promise<void>;
}

/** Largest request body accepted (413 beyond). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

const DIALECTS: Record<MockFlavor, Dialect> = {
  openai: openaiDialect,
  azure: azureDialect,
  anthropic: anthropicDialect,
};

type Route =
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

function route(method: string, rawPath: string, flavor: MockFlavor): Route {
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

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';

/** Starts an emulator; resolves once it listens. Throws `MockOptionError` for bad options. */
export async function startMock(options: MockOptions = {}): Promise<MockServer> {
  const emulator = new Emulator(resolveMockOptions(options));
  return emulator.listen();
}

class Emulator {
  readonly #o: ResolvedMockOptions;
  readonly #dialect: Dialect;
  readonly #limiter: Limiter;
  readonly #stats = new StatsRecorder();
  readonly #textSeed: number;
  /** `defaultMaxTokens`, at least 1. */
  readonly #defaultMax: number;
  readonly #keys: ReadonlySet<string> | undefined;
  readonly #idPrefix = randomBytes(12).toString('hex');
  readonly #timers = new Set<NodeJS.Timeout>();
  #dice: () => number;
  #nextId = 0;
  #server: Server | undefined;

  constructor(options: ResolvedMockOptions) {
    this.#o = options;
    this.#dialect = DIALECTS[options.flavor];
    this.#limiter = new Limiter(options);
    this.#textSeed = options.seed ?? 0;
    this.#defaultMax = Math.max(1, options.defaultMaxTokens);
    this.#keys = options.keys === undefined ? undefined : new Set(options.keys);
    this.#dice = this.#newDice();
  }

  listen(): Promise<MockServer> {
    const server = createServer({ keepAliveTimeout: 10_000 }, (req, res) =>
      this.#guard(res, () => this.#handle(req, res)),
    );
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        const port = (server.address() as AddressInfo).port;
        const host = this.#o.host === '0.0.0.0' || this.#o.host === '::' ? '127.0.0.1' : this.#o.host;
        const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
        resolve({
          url: `${origin}/v1`,
          origin,
          port,
          stats: () => this.#stats.snapshot(),
          reset: () => this.#reset(),
          close: () => this.#close(),
        });
      });
    });
  }

  #newDice(): () => number {
    return mulberry32(this.#o.seed ?? randomBytes(4).readUInt32LE(0));
  }

  #reset(): void {
    this.#limiter.reset();
    this.#stats.reset();
    this.#dice = this.#newDice();
  }

  #close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const server = this.#server;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /**
   * setTimeout that `close()` can cancel. A delay beyond what timers accept (latency plus generation
   * time can add up past it) waits the longest a timer can, instead of firing at once.
   */
  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        fn();
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    this.#timers.add(timer);
  }

  #id(): string {
    return this.#idPrefix + (this.#nextId++ >>> 0).toString(16).padStart(8, '0');
  }

  /**
   * Runs `fn`; an exception becomes a 500 for this request instead of taking the server down (a test
   * double that crashes on odd input would hide the code under test).
   */
  #guard(res: ServerResponse, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        this.#sendError(res, this.#dialect.serverError(500));
      } else {
        res.destroy(err as Error);
      }
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const r = route(req.method ?? 'GET', path, this.#o.flavor);

    if (r.kind === 'stats') return this.#sendJson(res, 200, JSON.stringify(this.#stats.snapshot()), []);
    if (r.kind === 'reset') {
      this.#reset();
      return this.#sendJson(res, 200, '{"reset":true}', []);
    }

    const stats = this.#stats;
    stats.received += 1;
    stats.enter();
    res.once('close', () => stats.leave());

    if (r.kind === 'none') {
      stats.errors.notFound += 1;
      req.resume();
      return this.#sendError(res, this.#dialect.notFound(req.method ?? 'GET', path));
    }
    const key = this.#dialect.apiKey(req.headers);
    if (r.kind === 'models' || r.kind === 'model') {
      req.resume();
      if (!this.#authorized(key)) return this.#unauthorized(res, key);
      return this.#sendJson(
        res,
        200,
        r.kind === 'models' ? renderModels() : JSON.stringify(modelObject(r.id)),
        [],
      );
    }

    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () =>
      this.#guard(res, () => {
        if (size > MAX_BODY_BYTES) {
          stats.errors.bodyTooLarge += 1;
          return this.#sendError(
            res,
            reply(413, {
              error: {
                message: 'Request body too large.',
                type: 'invalid_request_error',
                param: null,
                code: null,
              },
            }),
          );
        }
        const text =
          chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
        const apiVersion =
          q === -1 || this.#o.flavor !== 'azure'
            ? undefined
            : (new URLSearchParams(url.slice(q + 1)).get('api-version') ?? undefined);
        this.#api(res, r.endpoint, r.deployment, key, text, apiVersion);
      }),
    );
  }

  #authorized(key: string | undefined): boolean {
    return this.#keys === undefined || (key !== undefined && this.#keys.has(key));
  }

  #unauthorized(res: ServerResponse, key: string | undefined): void {
    this.#stats.errors.unauthorized += 1;
    this.#sendError(res, this.#dialect.unauthorized(key));
  }

  #api(
    res: ServerResponse,
    endpoint: Endpoint,
    deployment: string | undefined,
    key: string | undefined,
    text: string,
    apiVersion: string | undefined,
  ): void {
    const o = this.#o;
    const stats = this.#stats;
    if (!this.#authorized(key)) return this.#unauthorized(res, key);

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      stats.errors.badRequest += 1;
      return this.#sendError(
        res,
        this.#dialect.badRequest({
          bad: true,
          message: invalidJsonError().error.message,
          param: null,
          code: null,
        }),
      );
    }
    const request = parseRequest(endpoint, body, deployment);
    if (isBadRequest(request)) {
      stats.errors.badRequest += 1;
      return this.#sendError(res, this.#dialect.badRequest(request));
    }

    if (o.errorRate > 0 && this.#dice() < o.errorRate) {
      stats.errors.injected += 1;
      const status = ([500, 502, 503] as const)[Math.floor(this.#dice() * 3)]!;
      return this.#sendError(res, this.#dialect.serverError(status));
    }

    const now = o.clock.now();
    const lane = this.#limiter.lane(key ?? '', request.model);
    const counts = completionCounts(request, this.#textSeed, this.#defaultMax, o.maxGeneratedTokens);
    let completionTokens = 0;
    let longest = 0;
    for (const c of counts) {
      completionTokens += c;
      if (c > longest) longest = c;
    }
    const cost = admissionCost(request, this.#defaultMax);
    const decision = this.#limiter.admit(lane, cost, request.promptTokens + completionTokens, now);
    if (decision.kind !== 'admitted') return this.#refuse(res, decision, request, lane, now, apiVersion);

    stats.admit(now, cost.tokens);
    stats.prompt += request.promptTokens;
    stats.completion += completionTokens;

    const id = this.#id();
    const g: Generation =
      endpoint === 'embeddings'
        ? { choices: [], promptTokens: request.promptTokens, completionTokens: 0 }
        : generate(request, this.#textSeed, counts);
    const ctx: RenderContext = { id, created: Math.floor(now / 1000), textSeed: this.#textSeed };
    const reset = o.resetRate > 0 && this.#dice() < o.resetRate;
    const cut = request.stream && o.streamCutRate > 0 && this.#dice() < o.streamCutRate;
    const cutDice = reset || cut ? this.#dice() : 0;
    const settle =
      o.settle === 'usage'
        ? () =>
            this.#limiter.settle(
              lane,
              cost,
              {
                requests: 1,
                tokens: request.promptTokens + completionTokens,
                inputTokens: request.promptTokens,
                outputTokens: completionTokens,
              },
              o.clock.now(),
            )
        : undefined;

    const headers: string[] = [];
    const generationMs = request.stream ? 0 : longest * o.msPerToken;
    this.#dialect.identityHeaders(id, o.latencyMs + generationMs, headers);
    this.#dialect.limitHeaders(lane, now, headers);

    const answer = (): void => {
      if (res.destroyed) return;
      if (request.stream) {
        this.#stream(res, headers, renderStream(request, g, ctx), reset, cut, cutDice, settle);
      } else {
        this.#respond(res, headers, renderJson(request, g, ctx), reset, cutDice, settle);
      }
    };
    const delay = o.latencyMs + generationMs;
    if (delay > 0) this.#later(delay, () => this.#guard(res, answer));
    else answer();
  }

  #refuse(
    res: ServerResponse,
    decision: Exclude<Decision, { kind: 'admitted' }>,
    request: ParsedRequest,
    lane: Lane,
    now: number,
    apiVersion: string | undefined,
  ): void {
    const rejected = this.#stats.rejected;
    rejected.total += 1;
    switch (decision.kind) {
      case 'rate_limited': {
        const day = decision.period === 'day';
        if (decision.dimension === 'requests') rejected[day ? 'rpd' : 'rpm'] += 1;
        else if (decision.dimension === 'tokens') rejected[day ? 'tpd' : 'tpm'] += 1;
        else rejected[decision.dimension === 'inputTokens' ? 'itpm' : 'otpm'] += 1;
        break;
      }
      case 'too_large':
        rejected.tooLarge += 1;
        break;
      case 'quota':
        rejected.quota += 1;
        break;
      case 'slow_down':
        rejected.slowDown += 1;
        break;
    }
    const answer = this.#dialect.refusal(decision, {
      model: request.model,
      endpoint: request.endpoint,
      organization: this.#o.organization,
      apiVersion,
    });
    const headers: string[] = [];
    this.#dialect.identityHeaders(this.#id(), 0, headers);
    if (decision.kind !== 'quota') this.#dialect.limitHeaders(lane, now, headers);
    this.#sendError(res, answer, headers);
  }

  #sendError(res: ServerResponse, answer: ErrorReply, headers: string[] = []): void {
    if (answer.retryAfterMs !== undefined) {
      if (this.#o.retryAfter) headers.push('retry-after', String(Math.ceil(answer.retryAfterMs / 1000)));
      if (this.#o.retryAfterMs && this.#dialect.sendsRetryAfterMs) {
        headers.push('retry-after-ms', String(Math.ceil(answer.retryAfterMs)));
      }
    }
    if (headers.length === 0) this.#dialect.identityHeaders(this.#id(), 0, headers);
    this.#sendJson(res, answer.status, answer.body, headers);
  }

  #sendJson(res: ServerResponse, status: number, body: string, headers: string[]): void {
    if (res.destroyed) return;
    headers.push('content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(body)));
    res.writeHead(status, headers);
    res.end(body);
  }

  /** A JSON answer; `reset` cuts the connection after part of the body. */
  #respond(
    res: ServerResponse,
    headers: string[],
    body: string,
    reset: boolean,
    cutDice: number,
    settle: (() => void) | undefined,
  ): void {
    if (!reset) {
      this.#sendJson(res, 200, body, headers);
      settle?.();
      return;
    }
    const bytes = Buffer.from(body);
    headers.push('content-type', JSON_TYPE, 'content-length', String(bytes.length));
    res.writeHead(200, headers);
    this.#stats.errors.resets += 1;
    res.write(bytes.subarray(0, 1 + Math.floor(cutDice * (bytes.length - 1))), () => res.destroy());
  }

  /**
   * An SSE answer. Frames carrying tokens wait `msPerToken` each; a cut ends the stream cleanly before
   * its ending, a reset destroys the connection at the same point.
   */
  #stream(
    res: ServerResponse,
    headers: string[],
    plan: { frames: string[]; tokens: number[]; endsAt: number },
    reset: boolean,
    cut: boolean,
    cutDice: number,
    settle: (() => void) | undefined,
  ): void {
    headers.push('content-type', SSE_TYPE, 'cache-control', 'no-cache');
    res.writeHead(200, headers);
    const { frames, tokens } = plan;
    // Frames [0, stop) are sent; a cut or reset stops somewhere in [1, endsAt].
    const stop = reset || cut ? 1 + Math.floor(cutDice * plan.endsAt) : frames.length;
    const finish = (): void => {
      if (reset) {
        this.#stats.errors.resets += 1;
        res.destroy();
        return;
      }
      if (cut) this.#stats.errors.streamCuts += 1;
      res.end();
      settle?.();
    };
    const msPerToken = this.#o.msPerToken;
    if (msPerToken === 0) {
      const text = (stop === frames.length ? frames : frames.slice(0, stop)).join('');
      if (reset) {
        res.write(text, finish);
        return;
      }
      if (cut) this.#stats.errors.streamCuts += 1;
      // One write with the end of the chunked body: headers, frames and terminator leave together.
      res.end(text);
      settle?.();
      return;
    }
    let i = 0;
    const pump = (): void => {
      if (res.destroyed) return;
      // Send every frame up to the next one that carries a token, then wait for that token.
      let batch = '';
      while (i < stop) {
        batch += frames[i];
        i += 1;
        if (i < stop && tokens[i]! > 0) break;
      }
      if (i >= stop) {
        if (reset) res.write(batch, finish);
        else {
          res.write(batch);
          finish();
        }
        return;
      }
      res.write(batch);
      this.#later(tokens[i]! * msPerToken, pump);
    };
    if (tokens[0]! > 0) this.#later(tokens[0]! * msPerToken, pump);
    else pump();
  }
}
