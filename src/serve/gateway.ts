/**
 * `sluice serve`: the OpenAI-compatible gateway every service points its base URL at, so that they all
 * share one engine — one set of limits, one queue with priorities, one cooldown per lane.
 *
 * Routes: `/v1/*` (and `/openai/*` for Azure) go upstream through the engine; `/healthz`, `/readyz`;
 * `/metrics`, `/dashboard` and `/api/stats` come from the observer (`observe/`, given as `observe`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Engine, type EngineOptions, type LaneRef, type LimitsConfig } from '../engine/engine.js';
import type { Store } from '../engine/store.js';
import type { Flavor, GatewayConfig } from './config.js';
import { KeyRing } from './keys.js';
import { ClientGone, Draining, proxy, writeJson, type ProxyContext, type RequestRecord } from './proxy.js';
import { upstreamClient, type UpstreamClient } from './upstream.js';

/** Defaults of {@link GatewayOptions}, in one place. */
export const GATEWAY_DEFAULTS = {
  port: 8787,
  host: '127.0.0.1',
  flavor: 'openai' as Flavor,
  /** 32 MiB: above any chat request, below what would hurt the gateway's memory. */
  maxBodyBytes: 32 * 1024 * 1024,
  /** Below the usual client and proxy timeouts (60 s), so a request fails clearly rather than by timeout. */
  maxWaitMs: 50_000,
  /** SIGTERM: how long in-flight and queued requests may take to finish. */
  graceMs: 30_000,
} as const;

export interface GatewayOptions {
  /** The upstream base URL (`https://api.openai.com/v1`). Clients can never reach another host. */
  upstream: string;
  /** @default 'openai' */
  flavor?: Flavor;
  /** @default 8787 (0 picks a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Limits of every lane, as flags give them; the config file's limits and per-model limits win. */
  limits?: LimitsConfig;
  /** The parsed config file: virtual keys, limits, default deadline. */
  config?: GatewayConfig;
  /** Where limiter state lives. @default this process's memory */
  store?: Store;
  /** Bodies above this get 413. @default 32 MiB */
  maxBodyBytes?: number;
  /** Default admission deadline; `x-sluice-max-wait-ms` overrides it per request. @default 50000 */
  maxWaitMs?: number;
  /** Extra engine options (tests: clock, retry policy). */
  engine?: Omit<EngineOptions, 'limits' | 'store'>;
  /** One record per answered request (logs, metrics). */
  onRequest?: (record: RequestRecord) => void;
  /**
   * Builds what watches the gateway (metrics, stats, dashboard: `observer()` from `./observe/index.js`)
   * once the engine exists and before the gateway binds, so a refusal (no admin token) binds nothing.
   */
  observe?: (gateway: ObservedGateway) => GatewayObserver;
}

/** What an observer is given to watch. */
export interface ObservedGateway {
  readonly engine: Engine;
  /** The interface the gateway binds (loopback or not decides whether admin routes need a token). */
  readonly host: string;
  readonly upstream: URL;
  /** The config in force now (it changes on reload). */
  config(): GatewayConfig | undefined;
}

/** Serves extra routes and hears every answered request; closed with the gateway. */
export interface GatewayObserver {
  routes: Routes;
  onRequest(record: RequestRecord): void;
  close(): void;
}

export interface Gateway {
  /** `http://host:port`; clients use `${url}/v1` as their base URL. */
  readonly url: string;
  readonly engine: Engine;
  /** Requests being answered now. */
  readonly active: number;
  /** Applies a new config (keys, limits for new lanes) without dropping requests. */
  reload(config: GatewayConfig | undefined): void;
  /**
   * Stops accepting, lets in-flight and queued requests finish within `graceMs`, answers what is left
   * with 503 and Retry-After, then closes. Resolves once everything is closed.
   */
  drain(graceMs?: number): Promise<{ unfinished: number }>;
  /** Closes at once (tests). */
  close(): Promise<void>;
}

/** Extra routes served next to the API (metrics, dashboard, stats). Return false when not handled. */
export type Routes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

export async function startGateway(options: GatewayOptions, routes?: Routes): Promise<Gateway> {
  const upstream = new URL(options.upstream);
  let config = options.config;
  let keys = new KeyRing(config?.keys ?? []);
  const limitsFor = (lane: LaneRef): LimitsConfig | undefined => {
    const merged = { ...options.limits, ...config?.limits, ...config?.modelLimits[lane.model] };
    return Object.keys(merged).length > 0 ? merged : undefined;
  };
  const engine = new Engine({
    ...options.engine,
    limits: limitsFor,
    ...(options.store ? { store: options.store } : {}),
  });
  const observed = options.observe?.({
    engine,
    host: options.host ?? GATEWAY_DEFAULTS.host,
    upstream,
    config: () => config,
  });
  const client: UpstreamClient = upstreamClient();
  const inFlight = new Set<AbortController>();
  let draining = false;

  const ctx: ProxyContext = {
    engine,
    upstream,
    flavor: options.flavor ?? config?.flavor ?? GATEWAY_DEFAULTS.flavor,
    client,
    keys: () => keys,
    maxBodyBytes: options.maxBodyBytes ?? GATEWAY_DEFAULTS.maxBodyBytes,
    maxWaitMs: config?.maxWaitMs ?? options.maxWaitMs ?? GATEWAY_DEFAULTS.maxWaitMs,
    record: (record) => {
      observed?.onRequest(record);
      options.onRequest?.(record);
    },
    draining: () => draining,
  };

  const server: Server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz') return writeJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      return draining
        ? writeJson(res, 503, { status: 'draining' }, { 'retry-after': '1' })
        : writeJson(res, 200, { status: 'ready' });
    }
    if (path.startsWith('/v1/') || path === '/v1' || path.startsWith('/openai/')) {
      return void handle(req, res);
    }
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

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const controller = new AbortController();
    inFlight.add(controller);
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new ClientGone('the client closed the connection'));
    });
    try {
      await proxy(ctx, req, res, controller);
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
      inFlight.delete(controller);
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? GATEWAY_DEFAULTS.port, options.host ?? GATEWAY_DEFAULTS.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    observed?.close();
    client.close();
    throw err;
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const closeAll = async () => {
    observed?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
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
    },
    async drain(graceMs = GATEWAY_DEFAULTS.graceMs) {
      draining = true;
      server.close();
      server.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const unfinished = inFlight.size;
      for (const controller of inFlight) controller.abort(new Draining('shutting down'));
      while (inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await closeAll();
      return { unfinished };
    },
    close: closeAll,
  };
}
