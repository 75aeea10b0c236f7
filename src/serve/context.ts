/** What every exchange of one gateway shares, and what it reports. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResponseCache } from '../cache/cache.js';
import type { Engine } from '../engine/engine.js';
import type { Flavor, GatewayConfig } from './config.js';
import type { KeyRing } from './keys.js';
import type { UpstreamClient } from './upstream.js';

export interface GatewayContext {
  engine: Engine;
  upstream: URL;
  flavor: Flavor;
  client: UpstreamClient;
  /** The virtual keys in force (replaced on reload). */
  keys: () => KeyRing;
  maxBodyBytes: number;
  /** Default admission deadline (ms); replaced on reload. */
  maxWaitMs: number;
  /** The response cache, when the gateway has one. */
  cache: ResponseCache | undefined;
  /** Whether requests use the cache unless they (or their virtual key) say otherwise. */
  cacheByDefault: boolean;
  record(record: RequestRecord): void;
  /** True while draining: answers ask clients to reconnect elsewhere. */
  draining(): boolean;
}

/** What the gateway logs and counts for every request it answers. Never a key, never a prompt. */
export interface RequestRecord {
  method: string;
  path: string;
  /** Lane id (upstream | key fingerprint | model) for LLM calls. */
  lane?: string;
  model?: string;
  app?: string;
  priority?: string;
  /** `success`, `fatal` (the upstream's error passed through), `passthrough`, a Sluice code, `client_closed`, … */
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
  /** Tokens the request used: the answer's usage when it was read, else what was reserved at admission. */
  tokens?: number;
}

/** Extra routes served next to the API (metrics, dashboard, stats). Return false when not handled. */
export type Routes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

/** What an observer is given to watch. */
export interface ObservedGateway {
  readonly engine: Engine;
  /** The interface the gateway binds (loopback or not decides whether admin routes need a token). */
  readonly host: string;
  readonly upstream: URL;
  /** The response cache, when the gateway has one. */
  readonly cache: ResponseCache | undefined;
  /** The store's way of deciding now, when it has more than one (the Redis store: `redis`, or an outage mode). */
  storeStatus?(): string | undefined;
  /** The config in force now (it changes on reload). */
  config(): GatewayConfig | undefined;
}

/** Serves extra routes and hears every answered request; closed with the gateway. */
export interface GatewayObserver {
  routes: Routes;
  onRequest(record: RequestRecord): void;
  close(): void;
}
