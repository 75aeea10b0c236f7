/**
 * One keep-alive connection to an upstream, carrying one exchange at a time: it writes the request
 * (a buffered body in one write; a stream with its own length or in chunks, paced by the socket), reads
 * the answer with `ResponseParser`, and hands the body on as it arrives. When the answer ends cleanly
 * the connection goes back to its pool; after anything else it is closed, never reused.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { MessageBody } from './body.js';
import { requestHead, type BodyFraming } from './request-head.js';
import { ResponseParser, type ResponseEvents, type ResponseHead } from './response-parser.js';

export interface Http1Request {
  method: string;
  url: URL;
  headers: OutgoingHttpHeaders;
  /** A buffered body (sent with its length, and re-sent if a stale connection failed), or a stream. */
  body: Buffer | Readable | undefined;
  signal: AbortSignal;
}

export interface Http1Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: MessageBody;
}

/** A reused connection failed before any answer arrived: the server had closed it while it sat idle. */
export class StaleConnection extends Error {
  override name = 'StaleConnection';
}

export interface ConnectionEvents {
  /** The answer ended cleanly and the connection can carry another request. */
  free(connection: Connection): void;
  /** The socket closed. */
  gone(connection: Connection): void;
}

/** Methods whose empty body is still said (`content-length: 0`), as `node:http` does. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * One exchange on a connection, and what its parser reports to. Classes, not literals, for everything
 * that lives as long as an exchange, and nothing of the caller's request is kept past the write: V8
 * moves the objects of an object literal whose objects outlive a young-generation collection straight
 * into the old generation, which then needs full collections (pauses of milliseconds) several times as
 * often.
 */
class Run implements ResponseEvents {
  readonly parser: ResponseParser;
  body: MessageBody | undefined;
  /** The whole request was handed to the socket. */
  written = false;
  keepAlive = false;
  /** Undoes the abort listener, and the body stream's listeners when the body is a stream. */
  undoAbort: (() => void) | undefined;
  undoBody: (() => void) | undefined;

  constructor(
    readonly socket: Socket,
    readonly onHead: (run: Run, head: ResponseHead) => void,
    method: string,
    /** The body is buffered (or absent): the request can be sent again. */
    readonly replayable: boolean,
    readonly signal: AbortSignal,
    readonly resolve: (answer: Http1Answer) => void,
    readonly reject: (err: Error) => void,
  ) {
    this.parser = new ResponseParser(method, this);
  }

  head(head: ResponseHead): void {
    this.onHead(this, head);
  }

  data(chunk: Buffer): void {
    if (!this.body!.write(chunk)) this.socket.pause();
  }

  end(): void {
    this.body?.finish();
  }
}

class Answer implements Http1Answer {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: MessageBody,
  ) {}
}

export class Connection {
  readonly socket: Socket;
  /** Exchanges this connection finished. */
  uses = 0;
  readonly #events: ConnectionEvents;
  readonly #idleTimeoutMs: number;
  readonly #freeTimeoutMs: number;
  #run: Run | undefined;
  /** Why the socket went: the first error seen. */
  #error: Error | undefined;

  constructor(socket: Socket, idleTimeoutMs: number, freeTimeoutMs: number, events: ConnectionEvents) {
    this.socket = socket;
    this.#events = events;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#freeTimeoutMs = freeTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('end', () => this.#ended());
    socket.on('error', (err) => {
      this.#error ??= err;
    });
    socket.on('timeout', () => {
      if (!this.#run) return socket.destroy();
      const ms = this.#idleTimeoutMs;
      const time = ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
      this.#destroy(new Error(`No answer for ${time}; the request was abandoned.`));
    });
    socket.on('close', () => this.#closed());
  }

  get busy(): boolean {
    return this.#run !== undefined;
  }

  send(request: Http1Request): Promise<Http1Answer> {
    return new Promise<Http1Answer>((resolve, reject) => {
      if (request.signal.aborted) return reject(request.signal.reason as Error);
      let head: string;
      const framing = framingOf(request);
      try {
        head = requestHead(request.method, request.url, request.headers, framing);
      } catch (err) {
        return reject(err as Error);
      }
      const body = request.body;
      const run = new Run(
        this.socket,
        this.#onHead,
        request.method,
        body === undefined || Buffer.isBuffer(body),
        request.signal,
        resolve,
        reject,
      );
      this.#run = run;
      this.socket.setTimeout(this.#idleTimeoutMs);
      const signal = request.signal;
      const onAbort = () => this.#destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      run.undoAbort = () => signal.removeEventListener('abort', onAbort);
      this.#write(run, head, framing, body);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #write(run: Run, head: string, framing: BodyFraming, body: Http1Request['body']): void {
    if (body === undefined || Buffer.isBuffer(body)) {
      const size = Buffer.byteLength(head, 'latin1');
      const out = Buffer.allocUnsafe(size + (body?.length ?? 0));
      out.write(head, 0, 'latin1');
      body?.copy(out, size);
      this.socket.write(out);
      run.written = true;
      return;
    }
    this.socket.write(head, 'latin1');
    const chunked = framing === 'chunked';
    const onData = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      const ok = chunked
        ? this.socket.write(
            Buffer.concat([Buffer.from(chunk.length.toString(16) + '\r\n', 'latin1'), chunk, CRLF]),
          )
        : this.socket.write(chunk);
      if (!ok) body.pause();
    };
    const onDrain = () => body.resume();
    const onEnd = () => {
      if (chunked) this.socket.write(LAST_CHUNK);
      run.written = true;
    };
    const onClose = () => {
      if (!run.written) this.#destroy(new Error('The request body was cut before it ended.'));
    };
    const onError = (err: Error) => this.#destroy(err);
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('close', onClose);
    body.on('error', onError);
    this.socket.on('drain', onDrain);
    run.undoBody = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      body.off('error', onError);
      this.socket.off('drain', onDrain);
    };
  }

  readonly #onHead = (run: Run, head: ResponseHead) => this.#head(run, head);

  #head(run: Run, head: ResponseHead): void {
    run.keepAlive = head.keepAlive;
    run.body = new MessageBody(
      () => this.socket.resume(),
      () => {
        if (this.#run === run) this.#destroy(new Error('The answer was abandoned before it ended.'));
      },
    );
    run.resolve(new Answer(head.status, head.headers, run.body));
  }

  #data(chunk: Buffer): void {
    const run = this.#run;
    // Bytes while no request is out: the server broke framing, so the connection is not trusted.
    if (!run) return void this.socket.destroy();
    try {
      run.parser.feed(chunk);
    } catch (err) {
      return this.#destroy(err as Error);
    }
    if (run.parser.done) this.#done(run);
  }

  #ended(): void {
    const run = this.#run;
    if (!run) return;
    try {
      run.parser.close();
    } catch (err) {
      return this.#destroy(err as Error);
    }
    this.#done(run);
  }

  /** The answer ended: the connection is free again, or closed when it cannot carry another. */
  #done(run: Run): void {
    this.#finish(run);
    this.uses++;
    const reusable =
      run.keepAlive && run.written && run.parser.extra === 0 && this.socket.readable && this.socket.writable;
    if (!reusable) return void this.socket.destroy();
    this.socket.setTimeout(this.#freeTimeoutMs);
    this.socket.resume();
    this.#events.free(this);
  }

  #finish(run: Run): void {
    run.undoAbort?.();
    run.undoBody?.();
    if (this.#run === run) this.#run = undefined;
  }

  #destroy(err: Error): void {
    this.#error ??= err;
    this.socket.destroy();
  }

  #closed(): void {
    const run = this.#run;
    if (run) {
      this.#finish(run);
      const err = this.#error ?? new Error('The connection closed before the answer ended.');
      if (!run.body) {
        const stale = this.uses > 0 && !run.parser.started && run.replayable && !run.signal.aborted;
        run.reject(stale ? new StaleConnection(err.message, { cause: err }) : err);
      } else if (!run.body.complete) run.body.fail(err);
    }
    this.#events.gone(this);
  }
}

function framingOf(request: Http1Request): BodyFraming {
  const body = request.body;
  if (Buffer.isBuffer(body)) return body.length;
  if (body === undefined) return BODY_METHODS.has(request.method) ? 0 : 'none';
  const length = request.headers['content-length'];
  return length === undefined ? 'chunked' : Number(length);
}
