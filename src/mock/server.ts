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
import { route } from './route.js';
import { StatsRecorder, type MockStats } from './stats.js';
import { sendJson, writeJson, writeStream, type WriteContext } from './write.js';

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
  readonly #write: WriteContext;
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
    this.#write = {
      stats: this.#stats,
      msPerToken: options.msPerToken,
      later: (ms, fn) => this.#later(ms, fn),
    };
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

    if (r.kind === 'stats') return sendJson(res, 200, JSON.stringify(this.#stats.snapshot()), []);
    if (r.kind === 'reset') {
      this.#reset();
      return sendJson(res, 200, '{"reset":true}', []);
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
      return sendJson(res, 200, r.kind === 'models' ? renderModels() : JSON.stringify(modelObject(r.id)), []);
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
        writeStream(this.#write, res, headers, renderStream(request, g, ctx), reset, cut, cutDice, settle);
      } else {
        writeJson(this.#write, res, headers, renderJson(request, g, ctx), reset, cutDice, settle);
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
    this.#stats.refuse(decision);
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
    sendJson(res, answer.status, answer.body, headers);
  }
}
