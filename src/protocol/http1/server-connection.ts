/**
 * One client connection on the server side: requests read one after the other with `RequestParser`,
 * each handed to the handler with its answer; the next is read once the answer ends (bytes of a
 * pipelined request wait meanwhile, while the socket is still read so that a client leaving is seen at
 * once). A request whose target the server does not take is handed, with the connection, to another
 * server (`node:http`), at a request boundary and with the bytes read so far put back.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { Http1Error, MAX_HEAD_BYTES } from './message-parser.js';
import { RequestParser, type RequestEvents, type RequestHead } from './request-parser.js';
import { IncomingRequest } from './server-request.js';
import { OutgoingAnswer } from './server-answer.js';

export interface ServerConnectionOptions {
  /** Whether this server answers a request for `target` (else `handOff` gets the connection). */
  takes(target: string): boolean;
  handler(req: IncomingRequest, res: OutgoingAnswer): void;
  handOff(socket: Socket): void;
  /** A connection with no request in progress closes after this long. */
  keepAliveTimeoutMs: number;
  /** A request whose head has not arrived whole this long after its first byte gets 408. */
  headersTimeoutMs: number;
  /** A request that has not arrived whole this long after its first byte gets 408 (or, once answered, a close). */
  requestTimeoutMs: number;
  /** Milliseconds, for the two deadlines (tests). */
  now(): number;
  /** Answers say `connection: close` (the server is draining). */
  closing(): boolean;
  gone(connection: ServerConnection): void;
}

const EMPTY = Buffer.alloc(0);
/** Pipelined bytes held while an answer is out; past this, the socket is paused. */
const MAX_PENDING = MAX_HEAD_BYTES;

/** A request being answered (a class, not a literal: see `RequestHead`). */
class Current {
  answered = false;
  constructor(
    readonly req: IncomingRequest,
    readonly res: OutgoingAnswer,
    readonly parser: RequestParser,
  ) {}
}

export class ServerConnection {
  readonly socket: Socket;
  readonly #options: ServerConnectionOptions;
  /** Bytes read and not yet parsed: the start of the next request. */
  #pending: Buffer = EMPTY;
  /** The request being read (before its head is whole), if any. */
  #parser: RequestParser | undefined;
  #current: Current | undefined;
  /** The request body waits for its reader. */
  #bodyPaused = false;
  #pendingPaused = false;
  #handedOff = false;
  /** When the first byte of the request being read arrived. */
  #startedAt = 0;
  readonly #onData = (chunk: Buffer) => this.#data(chunk);
  readonly #onEnd = () => this.#ended();
  readonly #onTimeout = () => this.socket.destroy();
  readonly #onError = () => {};
  readonly #onClose = () => this.#closed();
  /** What every request's parser reports to, made once per connection. */
  readonly #parserEvents: RequestEvents = {
    head: (head) => this.#head(head),
    data: (body) => this.#body(body),
    end: () => this.#current?.req.finish(),
  };

  constructor(socket: Socket, options: ServerConnectionOptions) {
    this.socket = socket;
    this.#options = options;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('timeout', this.#onTimeout);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.setTimeout(options.keepAliveTimeoutMs);
  }

  /** No request is in progress (nothing read of one, none being answered). */
  get idle(): boolean {
    return this.#current === undefined && this.#parser === undefined && this.#pending.length === 0;
  }

  #data(chunk: Buffer): void {
    const current = this.#current;
    if (current) {
      if (current.parser.done) return this.#hold(chunk);
      if (this.#options.now() - this.#startedAt > this.#options.requestTimeoutMs)
        return this.#refuse(new Http1Error('The request took too long to arrive.', 408));
      return this.#feed(current.parser, chunk);
    }
    if (this.#pending.length === 0 && this.#parser === undefined) this.#startedAt = this.#options.now();
    else if (this.#options.now() - this.#startedAt > this.#options.headersTimeoutMs)
      return this.#refuse(new Http1Error("The request's head took too long to arrive.", 408));
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#next();
  }

  /** Starts on the pending bytes: hands the connection off, or reads the request. */
  #next(): void {
    if (this.#parser === undefined) {
      let pending = this.#pending;
      // RFC 9112 §2.2: empty lines before a request line are ignored.
      let start = 0;
      while (pending[start] === 0x0d || pending[start] === 0x0a) start++;
      if (start > 0) pending = this.#pending = pending.subarray(start);
      const eol = pending.indexOf(0x0a);
      if (eol < 0) {
        if (pending.length > MAX_HEAD_BYTES)
          this.#refuse(new Http1Error('The request line is too long.', 414));
        return;
      }
      const target = pending.toString('latin1', 0, eol).split(' ')[1] ?? '';
      if (!this.#options.takes(target)) return this.#handOff();
      this.#parser = new RequestParser(this.#parserEvents);
    }
    const chunk = this.#pending;
    this.#pending = EMPTY;
    this.#feed(this.#parser, chunk);
  }

  /** Feeds a request's parser (its head or its body); once the request has ended, the rest is held. */
  #feed(parser: RequestParser, chunk: Buffer): void {
    let used: number;
    try {
      used = parser.feed(chunk);
    } catch (err) {
      return this.#refuse(err as Error);
    }
    const current = this.#current;
    if (current?.parser === parser && parser.done) this.#bodyDone(current, chunk.subarray(used));
  }

  #head(head: RequestHead): void {
    const options = this.#options;
    const expect = head.headers['expect'];
    if (expect !== undefined) {
      if (String(expect).toLowerCase() !== '100-continue' || head.httpVersion !== '1.1')
        throw new Http1Error('The request expects what this server does not do.', 417);
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    const req = new IncomingRequest(head, () => {
      this.#bodyPaused = false;
      this.#resume();
    });
    const res = new OutgoingAnswer(this.socket, head, options.closing);
    const current = new Current(req, res, this.#parser!);
    this.#current = current;
    this.#parser = undefined;
    res.on('finish', () => {
      current.answered = true;
      if (current.parser.done) this.#answered(current);
      // The body is still coming: it is read (and dropped, unless the handler reads it) to its end.
      else req.resume();
    });
    this.socket.setTimeout(head.framing === 'none' ? 0 : options.requestTimeoutMs);
    options.handler(req, res);
  }

  #body(chunk: Buffer): void {
    const current = this.#current;
    if (current && !current.req.write(chunk)) {
      this.#bodyPaused = true;
      this.socket.pause();
    }
  }

  #bodyDone(current: Current, rest: Buffer): void {
    this.socket.setTimeout(0);
    if (rest.length > 0) this.#hold(rest);
    if (current.answered) this.#answered(current);
  }

  /** Holds bytes of the next request while this one is answered. */
  #hold(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    if (this.#pending.length > MAX_PENDING) {
      this.#pendingPaused = true;
      this.socket.pause();
    }
  }

  /** The request was read and answered: the connection closes, or reads the next request. */
  #answered(current: Current): void {
    if (this.#current !== current) return;
    this.#current = undefined;
    if (current.res.closing) return this.#closeAfterWrites();
    this.socket.setTimeout(this.#options.keepAliveTimeoutMs);
    this.#pendingPaused = false;
    this.#resume();
    if (this.#pending.length > 0) {
      this.#startedAt = this.#options.now();
      this.#next();
    }
  }

  #resume(): void {
    if (!this.#bodyPaused && !this.#pendingPaused && !this.#handedOff) this.socket.resume();
  }

  /** A request the server could not read: answered with its status, then the connection closes. */
  #refuse(err: Error): void {
    const status = err instanceof Http1Error ? err.status : 400;
    this.#parser = undefined;
    this.#pending = EMPTY;
    this.socket.off('data', this.#onData);
    const current = this.#current;
    // The body broke its framing while the handler has the request: it is answered here if the
    // handler has not begun to (as `node:http` does), and the connection closes under the handler.
    if (current?.res.headersSent) return void this.socket.destroy();
    current?.res.abandon();
    current?.req.fail(err);
    this.socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
    this.#closeAfterWrites();
  }

  /** Ends the connection once what was written has gone, without waiting for the client to close its side. */
  #closeAfterWrites(): void {
    const socket = this.socket;
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  }

  #handOff(): void {
    const socket = this.socket;
    this.#handedOff = true;
    socket.pause();
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('timeout', this.#onTimeout);
    socket.off('error', this.#onError);
    socket.setTimeout(0);
    const pending = this.#pending;
    this.#pending = EMPTY;
    socket.unshift(pending);
    this.#options.handOff(socket);
    socket.resume();
  }

  /** The client closed its side: a request in progress is cut (as `node:http` does), an idle connection ends. */
  #ended(): void {
    if (this.idle) return void this.socket.end();
    this.socket.destroy();
  }

  #closed(): void {
    const current = this.#current;
    this.#current = undefined;
    if (current) {
      if (!current.req.complete)
        current.req.fail(new Error('The client closed the connection before the request ended.'));
      if (!current.res.writableFinished) current.res.destroy();
    }
    if (!this.#handedOff) this.#options.gone(this);
  }
}
