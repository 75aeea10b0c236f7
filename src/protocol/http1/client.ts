/**
 * An HTTP/1.1 client of our own on `node:net` and `node:tls`, for the gateway's way upstream: keep-alive
 * pools per origin, bodies streamed both ways, and less CPU per request than `node:http`'s client (the
 * gateway's added latency at the 99th percentile is mostly CPU that a request arriving at the same time
 * waits for; see docs/benchmarks.md). A request that a stale keep-alive connection lost before any answer
 * came is sent once more on a new connection, when its body is buffered and can be sent again.
 */
import { StaleConnection, type Http1Answer, type Http1Request } from './connection.js';
import { Pool, type PoolOptions } from './pool.js';

export type { Http1Answer, Http1Request } from './connection.js';
export { MessageBody } from './body.js';

export interface Http1ClientOptions {
  /** Connections per origin; requests beyond wait for a free one. @default 1024 */
  maxSockets?: number;
  /** An exchange that receives nothing for this long fails. @default 600000 */
  idleTimeoutMs?: number;
  /** An idle keep-alive connection unused for this long is closed. @default 30000 */
  freeTimeoutMs?: number;
  /** Certificates to trust for HTTPS upstreams instead of Node's own (which honour `NODE_EXTRA_CA_CERTS`). */
  ca?: string | Buffer;
}

export class Http1Client {
  readonly #pools = new Map<string, Pool>();
  readonly #options: PoolOptions;

  constructor(options: Http1ClientOptions = {}) {
    this.#options = {
      maxSockets: options.maxSockets ?? 1024,
      idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
      freeTimeoutMs: options.freeTimeoutMs ?? 30_000,
      ca: options.ca,
    };
  }

  async send(request: Http1Request): Promise<Http1Answer> {
    const { protocol, host } = request.url;
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new TypeError(`Only http: and https: upstreams can be reached, not ${protocol}`);
    const key = `${protocol}//${host}`;
    let pool = this.#pools.get(key);
    if (!pool) this.#pools.set(key, (pool = new Pool(request.url, this.#options)));
    const connection = await pool.acquire(request.signal);
    try {
      return await connection.send(request);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      const fresh = await pool.acquire(request.signal, true);
      return fresh.send(request);
    }
  }

  /** Closes every connection; requests still waiting for one fail. */
  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }
}
