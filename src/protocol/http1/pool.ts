/**
 * The connections to one origin: idle ones reused last-in first-out (the warmest first), at most
 * `maxSockets` open, and requests beyond that waiting in order for the next free one. TLS sessions are
 * kept for resumption, so a new connection to an HTTPS upstream costs less than the first.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Connection } from './connection.js';

export interface PoolOptions {
  maxSockets: number;
  /** An exchange that receives nothing for this long fails. */
  idleTimeoutMs: number;
  /** An idle connection unused for this long is closed. */
  freeTimeoutMs: number;
  /** Certificates to trust for HTTPS instead of Node's (which also reads `NODE_EXTRA_CA_CERTS`). */
  ca: string | Buffer | undefined;
}

interface Waiter {
  give(connection: Connection): void;
  fail(err: Error): void;
}

export class Pool {
  readonly #url: URL;
  readonly #options: PoolOptions;
  readonly #idle: Connection[] = [];
  readonly #waiting: Waiter[] = [];
  readonly #all = new Set<Connection>();
  #session: Buffer | undefined;
  #closed = false;

  constructor(origin: URL, options: PoolOptions) {
    this.#url = origin;
    this.#options = options;
  }

  get open(): number {
    return this.#all.size;
  }

  /** A connection for one exchange: an idle one, a new one (`fresh`: always), or the next to come free. */
  acquire(signal: AbortSignal, fresh = false): Promise<Connection> {
    if (this.#closed) return Promise.reject(new Error('The upstream client was closed.'));
    if (!fresh) {
      // A connection closed while idle may still be listed until its 'close' event: skip it.
      for (let idle = this.#idle.pop(); idle; idle = this.#idle.pop())
        if (!idle.socket.destroyed) return Promise.resolve(idle);
    }
    if (fresh || this.#all.size < this.#options.maxSockets) return Promise.resolve(this.#connect());
    return new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = {
        give: (connection) => {
          signal.removeEventListener('abort', onAbort);
          resolve(connection);
        },
        fail: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  close(): void {
    this.#closed = true;
    for (const connection of this.#all) connection.close();
    for (const waiter of this.#waiting.splice(0)) waiter.fail(new Error('The upstream client was closed.'));
  }

  #connect(): Connection {
    const socket = this.#socket();
    const connection = new Connection(socket, this.#options.idleTimeoutMs, this.#options.freeTimeoutMs, {
      free: (c) => this.#free(c),
      gone: (c) => this.#gone(c),
    });
    this.#all.add(connection);
    if (this.#closed) connection.close();
    return connection;
  }

  #socket(): Socket {
    const host = this.#url.hostname.replace(/^\[|\]$/g, '');
    if (this.#url.protocol === 'https:') {
      const socket = tlsConnect({
        host,
        port: Number(this.#url.port || 443),
        servername: isIP(host) ? undefined : host,
        ALPNProtocols: ['http/1.1'],
        session: this.#session,
        ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
      });
      socket.on('session', (session: Buffer) => (this.#session = session));
      socket.setNoDelay(true);
      return socket;
    }
    return netConnect({ host, port: Number(this.#url.port || 80), noDelay: true });
  }

  #free(connection: Connection): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.give(connection);
    else this.#idle.push(connection);
  }

  #gone(connection: Connection): void {
    this.#all.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
    const waiter = this.#waiting.length > 0 && this.#all.size < this.#options.maxSockets;
    if (waiter) this.#waiting.shift()!.give(this.#connect());
  }
}
