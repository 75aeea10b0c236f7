/**
 * The gateway's observer: `/metrics` (Prometheus text), `/api/stats` (a JSON snapshot, or an SSE stream
 * of them) and `/dashboard` (a live page served from this process: no build server, no CDN). All of it
 * is built from the engine's events, the gateway's request records and `engine.stats()`.
 *
 * @example
 * const gateway = await startGateway({ upstream, host: '0.0.0.0', observe: observer({ adminToken }) });
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LaneStats } from '../../engine/lane.js';
import { VERSION } from '../../version.js';
import type { GatewayObserver, ObservedGateway } from '../context.js';
import type { RequestRecord } from '../context.js';
import { writeJson } from '../wire.js';
import { loadDashboardAssets, type Asset } from './assets.js';
import { AdminGuard } from './auth.js';
import { GatewayMetrics } from './metrics.js';
import type { StatsSnapshot } from './snapshot.js';
import { streamSnapshots, wantsStream } from './sse.js';
import { Tracker, type AppInfo } from './tracker.js';

export type { LaneMode } from './mode.js';
export type { AppSnapshot, LaneSnapshot, PriorityQueue, StatsSnapshot } from './snapshot.js';
export { AdminTokenError, isLoopback } from './auth.js';

export interface ObserverOptions {
  /** The admin token for `/dashboard` and `/api/stats`; required when the gateway binds beyond loopback. */
  adminToken?: string;
  /** Where the token comes from, named in messages. @default '$SLUICE_ADMIN_TOKEN' */
  adminTokenSource?: string;
  /** Seconds of history in `/api/stats` series. @default 900 (15 minutes) */
  historySeconds?: number;
  /** How often the SSE stream sends a snapshot, and the lanes are sampled. @default 1000 */
  intervalMs?: number;
  /** How often the SSE stream sends a heartbeat comment. @default 15000 */
  heartbeatMs?: number;
  /** Lanes given their own label in `/metrics` and their own series in `/api/stats`. @default 100 */
  maxLanes?: number;
  /** Also export the process and Node.js metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean;
}

export const OBSERVER_DEFAULTS = {
  adminTokenSource: '$SLUICE_ADMIN_TOKEN',
  historySeconds: 900,
  intervalMs: 1000,
  heartbeatMs: 15_000,
  maxLanes: 100,
  processMetrics: true,
} as const;

export interface Observer extends GatewayObserver {
  readonly metrics: GatewayMetrics;
  /** SSE streams open now. */
  readonly streams: number;
  snapshot(): Promise<StatsSnapshot>;
}

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/**
 * The observer for `startGateway({ observe: observer(options) })`. Throws `AdminTokenError` (before the
 * gateway binds) when the host is beyond loopback and no admin token is given.
 */
export function observer(options: ObserverOptions = {}): (gateway: ObservedGateway) => Observer {
  const o = { ...OBSERVER_DEFAULTS, ...options };
  return (gateway) => {
    const guard = new AdminGuard({
      host: gateway.host,
      token: options.adminToken,
      source: o.adminTokenSource,
    });
    const assets = loadDashboardAssets();
    const { engine } = gateway;
    const clock = engine.clock;
    const startedAt = clock.now();
    const tracker = new Tracker({
      historySeconds: o.historySeconds,
      maxLanes: o.maxLanes,
      startedAt,
    });
    const metrics = new GatewayMetrics({ maxLanes: o.maxLanes, processMetrics: o.processMetrics });
    if (gateway.cache) metrics.watchCache(gateway.cache.stats);
    if (gateway.storeStatus) metrics.watchStore(gateway.storeStatus);
    const unsubscribe = engine.on((event) => {
      tracker.onEvent(event);
      metrics.onEvent(event);
    });
    const streams = new Set<AbortController>();
    const stop = new AbortController();

    // The apps of the config in force (it changes on reload), read again only when it does.
    let appsOf: { config: unknown; list: AppInfo[]; names: ReadonlySet<string> } | undefined;
    const apps = () => {
      const config = gateway.config();
      if (!appsOf || appsOf.config !== config) {
        const list = (config?.keys ?? []).map((k) => ({ name: k.name, priority: k.priority }));
        appsOf = { config, list, names: new Set(list.map((a) => a.name)) };
      }
      return appsOf;
    };

    // One snapshot per interval, however many pages watch.
    let cached: { tick: number; value: Promise<StatsSnapshot> } | undefined;
    const snapshot = (): Promise<StatsSnapshot> => {
      const now = clock.now();
      const tick = Math.floor(now / o.intervalMs);
      if (cached?.tick === tick) return cached.value;
      const value = engine.stats().then((stats) => {
        const snap = tracker.snapshot(
          stats,
          now,
          {
            version: VERSION,
            upstream: `${gateway.upstream.origin}${gateway.upstream.pathname.replace(/\/+$/, '')}`,
            startedAt,
            virtualKeys: (gateway.config()?.keys.length ?? 0) > 0,
          },
          apps().list,
        );
        const c = gateway.cache?.stats;
        if (c) {
          const looked = c.hits + c.misses;
          snap.cache = {
            hits: c.hits,
            misses: c.misses,
            bypassed: c.bypassed,
            coalesced: c.coalesced,
            tokensSaved: c.tokensSaved,
            hitRate: looked === 0 ? 0 : c.hits / looked,
          };
        }
        return snap;
      });
      cached = { tick, value };
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
      return value;
    };

    // Limits and queue depths are sampled every second, so the charts have them for times nobody watched.
    void (async () => {
      while (!stop.signal.aborted) {
        await engine
          .stats()
          .then((stats: LaneStats[]) => tracker.sample(stats, clock.now()))
          .catch(() => {});
        await clock.sleep(o.intervalMs, stop.signal).catch(() => {});
      }
    })();

    const serveAsset = (req: IncomingMessage, res: ServerResponse, asset: Asset) => {
      res.writeHead(200, {
        ...PAGE_HEADERS,
        'content-type': asset.type,
        'content-length': String(asset.body.length),
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
    };

    const routes = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
      const isDashboard = path === '/dashboard' || path.startsWith('/dashboard/');
      if (path !== '/metrics' && path !== '/api/stats' && !isDashboard) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        writeJson(
          res,
          405,
          {
            error: {
              message: `${path} answers GET only.`,
              type: 'invalid_request_error',
              param: null,
              code: 'method_not_allowed',
            },
          },
          { allow: 'GET, HEAD' },
        );
        return true;
      }
      if (path === '/metrics') {
        metrics.refresh(await engine.stats(), clock.now());
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
        return true;
      }
      if (path === '/dashboard' && guard.exchange(req, res, path)) return true;
      if (!guard.allows(req)) {
        guard.refuse(res, guard.presented(req));
        return true;
      }
      if (path === '/api/stats') {
        if (wantsStream(req)) {
          await streamSnapshots(res, snapshot, {
            clock,
            intervalMs: o.intervalMs,
            heartbeatMs: o.heartbeatMs,
            open: streams,
          });
        } else writeJson(res, 200, await snapshot(), { 'cache-control': 'no-store' });
        return true;
      }
      const asset = assets.get(path === '/dashboard/' ? '' : path.slice('/dashboard'.length));
      if (!asset) return false;
      serveAsset(req, res, asset);
      return true;
    };

    return {
      routes,
      metrics,
      get streams() {
        return streams.size;
      },
      snapshot,
      onRequest(record: RequestRecord) {
        tracker.onRecord(record, clock.now());
        metrics.onRecord(record, apps().names);
      },
      close() {
        stop.abort();
        unsubscribe();
        for (const stream of streams) stream.abort();
      },
    };
  };
}
