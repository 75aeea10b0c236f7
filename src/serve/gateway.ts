/**
 * `sluice serve`: the OpenAI-compatible gateway every service points its base URL at, so that they all
 * share one engine — one set of limits, one queue with priorities, one cooldown per lane.
 *
 * Routes: `/v1/*` (and `/openai/*` for Azure) go upstream through the engine; `/healthz`, `/readyz`;
 * `/metrics`, `/dashboard` and `/api/stats` come from the observer (`observe/`, given as `observe`).
 * The gateway listens with its own HTTP/1.1 server (`Http1Server`), which answers the API's requests
 * and hands a connection whose next request is anything else to a `node:http` server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http1Server } from '../protocol/http1/server.js';
import { Engine } from '../engine/engine.js';
import type { LimitsConfig } from '../engine/options.js';
import { resolveOptions } from '../formats/options.js';
import { GATEWAY_OPTIONS, type GatewayOptions } from './options.js';
import type { LaneRef } from '../engine/request.js';
import type { GatewayConfig } from './config.js';
import { KeyRing } from './keys.js';
import type { GatewayContext, Routes } from './context.js';
import { Draining, Exchange } from './exchange.js';
import { writeJson, type ClientAnswer, type ClientRequest } from './wire.js';
import { pathOf } from './route.js';
import { upstreamClient, type UpstreamClient } from './upstream.js';
import { InFlight } from './in-flight.js';

/** How long a drain keeps idle keep-alive connections open for requests already on their way. */
const LINGER_MS = 1000;

export interface Gateway {
  /** `http://host:port`; clients use `${url}/v1` as their base URL. */
  readonly url: string;
  readonly engine: Engine;
  /** Requests being answered now. */
  readonly active: number;
  /** Applies a new config (keys, limits, sub-limits, deadline) without dropping requests. */
  reload(config: GatewayConfig | undefined): void;
  /**
   * Stops accepting, lets in-flight and queued requests finish within `graceMs`, answers what is left
   * with 503 and Retry-After, then closes. Resolves once everything is closed.
   */
  drain(graceMs?: number): Promise<{ unfinished: number }>;
  /** Closes at once (tests). */
  close(): Promise<void>;
}

export async function startGateway(input: GatewayOptions, routes?: Routes): Promise<Gateway> {
  const options = resolveOptions(GATEWAY_OPTIONS, input);
  const upstream = new URL(options.upstream!);
  let config = options.config;
  let keys = new KeyRing(config?.keys ?? []);
  const limitsFor = (lane: LaneRef): LimitsConfig | undefined => {
    const merged = { ...options.limits, ...config?.limits, ...config?.modelLimits[lane.model] };
    return Object.keys(merged).length > 0 ? merged : undefined;
  };
  // An app's sub-limits (virtual keys' `limits`): at most this much of every lane it uses.
  const tenantLimitsFor = (_lane: LaneRef, tenant: string): LimitsConfig | undefined =>
    config?.keys.find((k) => k.name === tenant)?.limits;
  const engine = new Engine({
    ...options.engine,
    limits: limitsFor,
    tenantLimits: tenantLimitsFor,
    ...(options.store ? { store: options.store } : {}),
  });
  const maxWaitOf = (c: GatewayConfig | undefined) =>
    input.maxWaitMs === undefined ? (c?.maxWaitMs ?? options.maxWaitMs) : options.maxWaitMs;
  const observed = options.observe?.({
    engine,
    host: options.host,
    upstream,
    cache: options.cache,
    storeStatus: () => storeStatusOf(options.store),
    config: () => config,
  });
  const client: UpstreamClient = upstreamClient();
  let draining = false;

  const ctx: GatewayContext = {
    engine,
    upstream,
    flavor: input.flavor ?? config?.flavor ?? options.flavor,
    client,
    keys: () => keys,
    maxBodyBytes: options.maxBodyBytes,
    cache: options.cache,
    cacheByDefault: options.cacheByDefault,
    maxWaitMs: maxWaitOf(config),
    record: (record) => {
      observed?.onRequest(record);
      options.onRequest?.(record);
    },
    draining: () => draining,
  };

  const isApi = (path: string) => path.startsWith('/v1/') || path === '/v1' || path.startsWith('/openai/');
  const fallback = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = pathOf(req.url ?? '/');
    if (path === '/healthz') return writeJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      return draining
        ? writeJson(res, 503, { status: 'draining' }, { 'retry-after': '1' })
        : writeJson(res, 200, { status: 'ready' });
    }
    if (isApi(path)) return void handle(req, res);
    void (async () => {
      if (observed && (await observed.routes(req, res, path))) return;
      if (routes && (await routes(req, res, path))) return;
      writeJson(res, 404, {
        error: {
          message: `No route for ${path.slice(0, 80)}. Point your client's base URL at /v1 (OPENAI_BASE_URL=http://host:port/v1).`,
          type: 'invalid_request_error',
          param: null,
          code: 'not_found',
        },
      });
    })().catch(() => res.destroy());
  });

  const inFlight = new InFlight<Exchange>();
  const handle = async (req: ClientRequest, res: ClientAnswer) => {
    const exchange = new Exchange(ctx, req, res);
    inFlight.add(exchange);
    try {
      await exchange.run();
    } catch {
      if (!res.headersSent) {
        writeJson(res, 500, {
          error: {
            message: 'The gateway failed on this request.',
            type: 'server_error',
            param: null,
            code: 'internal_error',
          },
        });
      } else res.destroy();
    } finally {
      inFlight.delete(exchange);
    }
  };

  const server = new Http1Server({
    takes: (target) => isApi(pathOf(target)),
    handler: (req, res) => void handle(req, res),
    fallback,
  });
  const listener = server.net;
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, options.host, () => {
      listener.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    observed?.close();
    client.close();
    await engine.close();
    throw err;
  });
  const address = listener.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const closeAll = async () => {
    await options.cache?.close();
    observed?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    client.close();
    await engine.close();
  };

  return {
    url: `http://${host}:${address.port}`,
    engine,
    get active() {
      return inFlight.size;
    },
    reload(next) {
      config = next;
      keys = new KeyRing(next?.keys ?? []);
      ctx.maxWaitMs = maxWaitOf(next);
      // Lanes and apps already in use take the new limits; queued requests stay queued.
      engine.reconfigure();
    },
    async drain(graceMs = options.graceMs) {
      draining = true;
      server.closing();
      // Stop accepting, but leave idle keep-alive connections open for a moment: a request a client sent
      // on one just now is answered (with `Connection: close`), not reset.
      listener.close();
      const started = Date.now();
      const deadline = started + graceMs;
      const linger = started + Math.min(graceMs, LINGER_MS);
      while ((inFlight.size > 0 && Date.now() < deadline) || Date.now() < linger) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      server.closeIdleConnections();
      const unfinished = inFlight.size;
      for (const exchange of inFlight.list()) exchange.controller.abort(new Draining('shutting down'));
      while (inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await closeAll();
      return { unfinished };
    },
    close: closeAll,
  };
}

/** The status a store reports of itself (the Redis store's `status`), if any. */
function storeStatusOf(store: unknown): string | undefined {
  const status = (store as { status?: unknown } | undefined)?.status;
  return typeof status === 'string' ? status : undefined;
}
