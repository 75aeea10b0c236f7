/**
 * An HTTP/1.1 server of our own on `node:net`, for the requests a proxy forwards: it takes the requests
 * whose target `takes` accepts and hands every other connection, at a request boundary, to a `node:http`
 * server (`fallback`) that never listens itself — pages, metrics and event streams keep `node:http`'s
 * whole API, while the forwarded requests cost a fraction of its CPU (see docs/benchmarks.md, "The
 * gateway's own HTTP server").
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { ServerConnection } from './server-connection.js';
import type { IncomingRequest } from './server-request.js';
import type { OutgoingAnswer } from './server-answer.js';

export type { IncomingRequest } from './server-request.js';
export type { OutgoingAnswer } from './server-answer.js';

export interface Http1ServerOptions {
  /** Whether this server answers a request for this target (as sent: `/v1/chat/completions?x=1`). */
  takes(target: string): boolean;
  handler(req: IncomingRequest, res: OutgoingAnswer): void;
  /** Gets the connections whose next request this server does not take. */
  fallback: HttpServer;
  /** A connection with no request in progress closes after this long. @default 65000 */
  keepAliveTimeoutMs?: number;
  /** A request whose head has not arrived whole this long after its first byte gets 408. @default 60000 */
  headersTimeoutMs?: number;
  /** A request that has not arrived whole this long after its first byte gets 408. @default 300000 */
  requestTimeoutMs?: number;
  /** The clock of those deadlines. @default Date.now */
  now?: () => number;
}

export class Http1Server {
  readonly net: NetServer;
  readonly #connections = new Set<ServerConnection>();
  /** Connections given to the fallback, until they close. */
  readonly #handedOff = new Set<Socket>();
  #closing = false;

  constructor(options: Http1ServerOptions) {
    const connectionOptions = {
      takes: options.takes,
      handler: options.handler,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 65_000,
      headersTimeoutMs: options.headersTimeoutMs ?? 60_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 300_000,
      now: options.now ?? Date.now,
      closing: () => this.#closing,
      handOff: (socket: Socket) => {
        this.#handedOff.add(socket);
        socket.once('close', () => this.#handedOff.delete(socket));
        options.fallback.emit('connection', socket);
      },
      gone: (connection: ServerConnection) => this.#connections.delete(connection),
    };
    this.net = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.#connections.add(new ServerConnection(socket, connectionOptions));
    });
  }

  /** From now on every answer says `connection: close`. */
  closing(): void {
    this.#closing = true;
  }

  /**
   * Closes the connections that carry no request now (as `http.Server#closeIdleConnections`). Those
   * handed to the fallback are not seen here (a `node:http` server that never listened tracks none of
   * its connections): `closeAllConnections` closes them.
   */
  closeIdleConnections(): void {
    for (const connection of this.#connections) if (connection.idle) connection.socket.destroy();
  }

  closeAllConnections(): void {
    for (const connection of this.#connections) connection.socket.destroy();
    for (const socket of this.#handedOff) socket.destroy();
  }
}
