/**
 * Options of the gateway, declared once: {@link GATEWAY_OPTIONS} is what `startGateway()` resolves and
 * what `sluice serve` turns into flags (with a few flags of its own, in `src/cli/serve.ts`); the docs'
 * option reference is checked against both.
 */
import type { EngineOptions, LimitsConfig } from '../engine/options.js';
import type { Store } from '../engine/store.js';
import { ResponseCache } from '../cache/cache.js';
import { type OptionsInput, type OptionTable, type ResolvedOptions } from '../formats/options.js';
import { boolean, bytes, custom, duration, oneOf, text, whole } from '../formats/option-kinds.js';
import { FLAVORS, type GatewayConfig } from './config.js';
import type { GatewayObserver, ObservedGateway, RequestRecord } from './context.js';

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFunction = (v: unknown): v is (record: RequestRecord) => void => typeof v === 'function';
const isUpstream = (v: unknown): v is string => {
  if (typeof v !== 'string') return false;
  try {
    const url = new URL(v);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
};

export const GATEWAY_OPTIONS = {
  /** The upstream base URL (`https://api.openai.com/v1`). Clients can never reach another host. */
  upstream: custom(isUpstream, {
    expected: 'an http(s) base URL such as https://api.openai.com/v1',
    help: 'upstream base URL',
  }),
  /** The upstream's dialect. @default 'openai' */
  flavor: oneOf(FLAVORS, { default: 'openai', placeholder: 'name', help: 'upstream dialect' }),
  /** TCP port; 0 picks a free one. @default 8787 */
  port: whole({
    max: 65_535,
    expected: 'a port from 0 to 65535',
    default: 8787,
    help: 'port to listen on (0 picks a free one)',
  }),
  /** Interface to bind. Beyond loopback, the dashboard and `/api/stats` need the admin token. @default '127.0.0.1' */
  host: text({
    expected: 'a host name or address',
    default: '127.0.0.1',
    placeholder: 'host',
    help: 'interface to bind; beyond loopback the dashboard needs an admin token',
  }),
  /**
   * The longest a request waits for admission before a 429 `deadline_exceeded`, unless it says
   * otherwise (`x-sluice-max-wait-ms`). Below the usual client and proxy timeouts of 60 s, so requests
   * fail clearly rather than by timeout. @default 50000
   */
  maxWaitMs: duration({
    default: 50_000,
    flag: 'max-wait',
    help: 'longest a request waits for admission before a 429',
  }),
  /** Request bodies above this many bytes get 413. @default 33554432 (32 MiB) */
  maxBodyBytes: bytes({
    min: 1,
    default: 32 * 1024 * 1024,
    flag: 'max-body',
    help: 'request bodies above this get 413',
  }),
  /** On `drain()` (SIGTERM), how long in-flight and queued requests may take. @default 30000 */
  graceMs: duration({
    default: 30_000,
    flag: 'grace',
    help: 'on SIGTERM, how long in-flight and queued requests may take',
  }),
  /** Limits of every lane; the config file's limits and per-model limits win. @default learned from headers */
  limits: custom((v): v is LimitsConfig => isObject(v), {
    expected: 'limits such as { rpm: 500, tpm: 200000 }',
    defaultText: 'learned',
    help: 'limits of every lane',
  }),
  /** The parsed config file (`loadConfig()`): virtual keys, limits, default deadline. */
  config: custom((v): v is GatewayConfig => isObject(v) && Array.isArray((v as GatewayConfig).keys), {
    expected: 'a config from loadConfig() or parseConfig()',
    help: 'virtual keys, limits and the default deadline',
  }),
  /**
   * The response cache (memory, or Redis through `redisBackend()`). With one, requests whose app (or
   * whose `x-sluice-cache: on`) asks for it are answered from it. @default no cache
   */
  cache: custom((v): v is ResponseCache => v instanceof ResponseCache, {
    expected: 'a ResponseCache',
    defaultText: 'none',
    help: 'the response cache',
  }),
  /** Whether requests use the cache unless they (or their virtual key) opt out. @default false */
  cacheByDefault: boolean({
    default: false,
    flag: false,
    help: 'every request uses the cache unless it opts out',
  }),
  /** Where limiter state lives. @default this process's memory */
  store: custom((v): v is Store => isObject(v) && typeof (v as Store).reserve === 'function', {
    expected: 'a Store (e.g. createRedisStore())',
    defaultText: 'memory',
    help: 'where limiter state lives',
  }),
  /** Extra engine options (tests: clock, retry policy). */
  engine: custom((v): v is Omit<EngineOptions, 'limits' | 'store'> => isObject(v), {
    expected: 'engine options',
    help: 'extra engine options',
  }),
  /** Called with one record per answered request (logs, metrics). Never holds a key or a prompt. */
  onRequest: custom(isFunction, { expected: 'a function', help: 'one record per answered request' }),
  /**
   * Builds what watches the gateway (metrics, stats, dashboard: `observer()` from `./observe/index.js`)
   * once the engine exists and before the gateway binds, so a refusal (no admin token) binds nothing.
   */
  observe: custom((v): v is (gateway: ObservedGateway) => GatewayObserver => typeof v === 'function', {
    expected: 'a function such as observer()',
    help: 'what watches the gateway: metrics, stats, dashboard',
  }),
} satisfies OptionTable;

export type GatewayOptions = OptionsInput<typeof GATEWAY_OPTIONS> & { upstream: string };
export type ResolvedGatewayOptions = ResolvedOptions<typeof GATEWAY_OPTIONS>;
