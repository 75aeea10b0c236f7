/**
 * One client request through the gateway: route it (the upstream is fixed), identify the caller, read
 * the body when the engine needs it (LLM calls), run it through the engine — paced, queued, retried —
 * and hand the upstream's answer back as it arrives. Requests that are not LLM calls are forwarded
 * as they are, streamed both ways.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AttemptResult, Engine, Execution } from '../engine/engine.js';
import { isSluiceError, type SluiceError } from '../engine/errors.js';
import { parseJsonObject } from '../formats/json.js';
import { adaptRequest } from '../protocol/adapt.js';
import { BodyWatcher } from '../protocol/body-watch.js';
import { endpointOf } from '../protocol/endpoint.js';
import { WISH_HEADERS } from '../protocol/wishes.js';
import { errorAnswer, laneLimitHeaders, outcomeHeaders, RESPONSE_HEADERS } from '../protocol/response.js';
import type { Flavor } from './config.js';
import { AUTH_HEADERS, authHeader, clampPriority, type KeyRing } from './keys.js';
import { routeOf } from './route.js';
import { readText, type UpstreamAnswer, type UpstreamClient } from './upstream.js';

/** What the gateway logs and counts for every request it answers. Never a key, never a prompt. */
export interface RequestRecord {
  method: string;
  path: string;
  /** Lane id (upstream | key fingerprint | model) for LLM calls. */
  lane?: string;
  model?: string;
  app?: string;
  priority?: string;
  /** `success`, `fatal` (the upstream's error passed through), a Sluice code, or how it ended otherwise. */
  outcome: string;
  status: number;
  queuedMs: number;
  attempts: number;
  /** From the request's arrival to the end of the answer. */
  durationMs: number;
  /** From the request's arrival to the answer's headers. */
  ttfbMs: number;
  /** Time spent waiting for upstream answers' headers, all attempts. */
  upstreamMs: number;
}

export interface ProxyContext {
  engine: Engine;
  upstream: URL;
  flavor: Flavor;
  client: UpstreamClient;
  keys: () => KeyRing;
  maxBodyBytes: number;
  /** Default admission deadline (ms). */
  maxWaitMs: number;
  record(record: RequestRecord): void;
  /** Set while draining: answers ask clients to reconnect elsewhere. */
  draining(): boolean;
}

/** Why a request's signal fired. */
export class ClientGone extends Error {
  override readonly name = 'ClientGone';
}
export class Draining extends Error {
  override readonly name = 'Draining';
}

interface Fatal {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'host',
  'content-length',
]);
const STRIPPED: ReadonlySet<string> = new Set<string>([...HOP_BY_HOP, ...WISH_HEADERS]);

export async function proxy(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  controller: AbortController,
): Promise<void> {
  const arrived = performance.now();
  const method = req.method ?? 'GET';
  const record: RequestRecord = {
    method,
    path: '',
    outcome: 'refused',
    status: 0,
    queuedMs: 0,
    attempts: 0,
    durationMs: 0,
    ttfbMs: 0,
    upstreamMs: 0,
  };
  const finish = (status: number, outcome: string) => {
    record.status = status;
    record.outcome = outcome;
    record.durationMs = performance.now() - arrived;
    ctx.record(record);
  };
  const refuse = (
    status: number,
    type: string,
    code: string,
    message: string,
    extra: Record<string, string> = {},
  ) => {
    record.ttfbMs = performance.now() - arrived;
    req.resume();
    writeJson(res, status, { error: { message, type, param: null, code } }, extra);
    finish(status, code);
  };

  const route = routeOf(req.url ?? '/', ctx.upstream);
  if (!route.ok) {
    record.path = (req.url ?? '').slice(0, 200);
    return refuse(
      route.status,
      'invalid_request_error',
      route.status === 404 ? 'not_found' : 'invalid_path',
      route.message,
    );
  }
  record.path = route.path;
  const headers = headerGetter(req.headers);
  const caller = ctx.keys().identify(headers);
  if (!caller.ok) return refuse(401, 'invalid_request_error', 'invalid_api_key', caller.message);
  if (caller.app) record.app = caller.app.name;

  const declared = Number(req.headers['content-length']);
  if (declared > ctx.maxBodyBytes)
    return refuse(413, 'invalid_request_error', 'request_too_large_for_gateway', tooLarge(ctx));

  let body: Buffer | undefined;
  if (method === 'POST' && endpointOf(route.url.pathname) !== undefined) {
    body = await readBody(req, ctx.maxBodyBytes);
    if (body === undefined)
      return refuse(413, 'invalid_request_error', 'request_too_large_for_gateway', tooLarge(ctx));
  }

  let adapted;
  try {
    adapted = adaptRequest(
      { method, url: route.url, headers, body },
      {
        ...(caller.app
          ? { apiKey: caller.app.upstreamKey, tenant: caller.app.name, priority: caller.app.priority }
          : {}),
      },
    );
  } catch (err) {
    if (!isSluiceError(err)) throw err;
    return refuse(400, 'invalid_request_error', err.code, err.message);
  }
  const upstreamHeaders = forwardHeaders(
    req.headers,
    caller.app && authHeader(ctx.flavor, caller.app.upstreamKey),
  );

  if (!adapted.llm) {
    return passThrough(
      ctx,
      req,
      res,
      controller,
      { method, url: route.url, headers: upstreamHeaders, body },
      record,
      arrived,
      finish,
    );
  }

  const request = adapted.request;
  if (caller.app) {
    request.priority = clampPriority(request.priority ?? 'default', caller.app.priority);
    request.tenant = caller.app.name;
    request.weight = caller.app.weight;
  }
  request.maxWaitMs ??= ctx.maxWaitMs;
  request.signal = controller.signal;
  record.lane = ctx.engine.laneId(request.lane);
  record.model = request.lane.model;
  record.priority = request.priority ?? 'default';
  // The engine reads usage from the body: the upstream must not compress it.
  upstreamHeaders['accept-encoding'] = 'identity';

  let execution: Execution<UpstreamAnswer | Fatal>;
  try {
    execution = await ctx.engine.execute(
      request,
      async (): Promise<AttemptResult<UpstreamAnswer | Fatal>> => {
        const sent = performance.now();
        const answer = await ctx.client.send({
          method,
          url: route.url,
          headers: upstreamHeaders,
          body,
          signal: controller.signal,
        });
        record.upstreamMs += performance.now() - sent;
        if (answer.status >= 200 && answer.status < 300)
          return { status: answer.status, headers: answer.headers, value: answer };
        const text = await readText(answer.body);
        return {
          status: answer.status,
          headers: answer.headers,
          body: parseJsonObject(text, 65_536) ?? text,
          value: { status: answer.status, headers: answer.headers, text },
        };
      },
    );
  } catch (err) {
    record.ttfbMs = performance.now() - arrived;
    if (controller.signal.aborted && controller.signal.reason instanceof ClientGone)
      return finish(499, 'client_closed');
    if (controller.signal.aborted && controller.signal.reason instanceof Draining) {
      writeJson(
        res,
        503,
        {
          error: {
            message: 'The gateway is shutting down; retry on another instance.',
            type: 'server_error',
            param: null,
            code: 'shutting_down',
          },
        },
        { 'retry-after': '1', connection: 'close' },
      );
      return finish(503, 'shutting_down');
    }
    if (!isSluiceError(err)) throw err;
    await failure(ctx, res, err);
    return finish(res.statusCode, err.code);
  }
  record.queuedMs = execution.queuedMs;
  record.attempts = execution.attempts;
  record.ttfbMs = performance.now() - arrived;

  const value = execution.value;
  const sluice = outcomeHeaders(execution);
  if (!('body' in value)) {
    // A fatal answer (400, 401, 404, …): the upstream's own, unchanged.
    execution.done();
    res.writeHead(value.status, responseHeaders(value.headers, sluice, ctx.draining()));
    res.end(value.text);
    return finish(value.status, 'fatal');
  }
  res.writeHead(value.status, responseHeaders(value.headers, sluice, ctx.draining()));
  const sse = String(value.headers['content-type'] ?? '').includes('text/event-stream');
  const watcher =
    sse || execution.wantsUsage || execution.holdsSlot
      ? new BodyWatcher(sse, {
          usage: (usage) => execution.settle(usage),
          error: (cls) => execution.streamError(cls),
          end: () => execution.done(),
        })
      : undefined;
  if (!watcher) execution.done();
  await relay(value, res, watcher);
  finish(value.status, 'success');
}

/** Copies an upstream body to the client as it arrives; a cut on either side ends both. */
function relay(answer: UpstreamAnswer, res: ServerResponse, watcher: BodyWatcher | undefined): Promise<void> {
  return new Promise((resolve) => {
    const upstream = answer.body;
    const done = () => {
      watcher?.finish();
      resolve();
    };
    if (watcher) upstream.on('data', (chunk: Buffer) => watcher.push(chunk));
    upstream.on('error', () => res.destroy());
    upstream.on('close', () => {
      if (!upstream.complete) res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      done();
    });
    upstream.pipe(res);
  });
}

async function passThrough(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  controller: AbortController,
  request: { method: string; url: URL; headers: OutgoingHttpHeaders; body: Buffer | undefined },
  record: RequestRecord,
  arrived: number,
  finish: (status: number, outcome: string) => void,
): Promise<void> {
  const hasBody =
    request.body !== undefined ||
    req.headers['content-length'] !== undefined ||
    req.headers['transfer-encoding'] !== undefined;
  if (request.body === undefined && req.headers['content-length'] !== undefined) {
    request.headers['content-length'] = req.headers['content-length'];
  } else if (request.body === undefined && hasBody) {
    request.headers['transfer-encoding'] = 'chunked';
  }
  let answer: UpstreamAnswer;
  try {
    const sent = performance.now();
    answer = await ctx.client.send({
      ...request,
      body: request.body ?? (hasBody ? limitStream(req, ctx.maxBodyBytes, controller) : undefined),
      signal: controller.signal,
    });
    record.upstreamMs = performance.now() - sent;
  } catch (err) {
    record.ttfbMs = performance.now() - arrived;
    if (controller.signal.aborted) return finish(499, 'client_closed');
    writeJson(res, 502, {
      error: {
        message: `The upstream could not be reached: ${(err as Error).message}.`,
        type: 'sluice_error',
        param: null,
        code: 'upstream_error',
      },
    });
    return finish(502, 'upstream_error');
  }
  record.ttfbMs = performance.now() - arrived;
  res.writeHead(answer.status, responseHeaders(answer.headers, [], ctx.draining(), false));
  await relay(answer, res, undefined);
  finish(answer.status, 'passthrough');
}

/** A Sluice failure, or the upstream's own quota / too-large answer passed through as it was. */
async function failure(ctx: ProxyContext, res: ServerResponse, err: SluiceError): Promise<void> {
  const lane =
    err.lane === undefined ? undefined : (await ctx.engine.stats()).find((l) => l.lane === err.lane);
  const limits = lane ? laneLimitHeaders(lane) : {};
  const upstreamOwn =
    (err.code === 'quota_exhausted' || err.code === 'request_too_large') &&
    err.status !== undefined &&
    err.body !== undefined;
  if (upstreamOwn) {
    const retry =
      err.retryAfterMs !== undefined && Number.isFinite(err.retryAfterMs)
        ? { 'retry-after': String(Math.ceil(err.retryAfterMs / 1000)) }
        : {};
    writeText(res, err.status!, typeof err.body === 'string' ? err.body : JSON.stringify(err.body), {
      'content-type': 'application/json',
      [RESPONSE_HEADERS.errorCode]: err.code,
      ...retry,
      ...limits,
    });
    return;
  }
  const answer = errorAnswer(err);
  writeText(res, answer.status, answer.body, { ...answer.headers, ...limits });
}

function forwardHeaders(
  headers: IncomingHttpHeaders,
  auth: [string, string] | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (STRIPPED.has(name)) continue;
    if (auth && (AUTH_HEADERS as readonly string[]).includes(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  if (auth) out[auth[0]] = auth[1];
  return out;
}

function responseHeaders(
  upstream: IncomingHttpHeaders,
  sluice: [string, string][],
  closing: boolean,
  keepLength = true,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) && !(keepLength && name === 'content-length')) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  if (!keepLength && upstream['content-length'] !== undefined)
    out['content-length'] = upstream['content-length'];
  for (const [name, value] of sluice) out[name] = value;
  if (closing) out['connection'] = 'close';
  return out;
}

function headerGetter(headers: IncomingHttpHeaders): { get(name: string): string | null } {
  return {
    get(name) {
      const value = headers[name];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** Reads the whole body, or `undefined` once it exceeds `max` bytes (the rest is discarded). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
      } else if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** The client's body as it streams, cut (and the exchange aborted) once it exceeds `max` bytes. */
function limitStream(req: IncomingMessage, max: number, controller: AbortController): IncomingMessage {
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > max) controller.abort(new ClientGone('body too large'));
  });
  return req;
}

function tooLarge(ctx: ProxyContext): string {
  return `The request body is larger than this gateway accepts (${ctx.maxBodyBytes} bytes). Send less, or raise --max-body.`;
}

export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  writeText(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

function writeText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}
