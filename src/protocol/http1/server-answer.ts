/**
 * The answer to one request on the server side: the part of `node:http`'s `ServerResponse` a proxy
 * uses (`writeHead`, `statusCode`, `headersSent`, `write`, `end`, `destroy`, `'drain'`, `'finish'`,
 * `'close'`), a stream a `Readable` can pipe into. The head goes out with the first bytes of the body,
 * in one write. Without a `Content-Length` the body is chunked (or, to an HTTP/1.0 client, ended by
 * closing the connection).
 *
 * Like `ServerResponse`, it is a plain `Stream` that writes straight to the socket, not a `Writable`:
 * a `Writable`'s state lives as long as the answer, and V8, seeing those objects outlive a
 * young-generation collection, starts allocating them in the old generation, which then needs full
 * collections (pauses of milliseconds) several times as often.
 */
import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Stream } from 'node:stream';
import { headerLines } from './request-head.js';
import { connectionHas } from './message-parser.js';
import type { RequestHead } from './request-parser.js';

/** Headers the answer sets itself from its framing. */
const OWN = new Set(['transfer-encoding', 'connection', 'keep-alive', 'date']);
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

let dateSecond = 0;
let dateLine = '';
/** `date: …\r\n`, made once a second. */
function date(): string {
  const now = Date.now();
  if (now - dateSecond >= 1000) {
    dateSecond = now - (now % 1000);
    dateLine = `date: ${new Date(dateSecond).toUTCString()}\r\n`;
  }
  return dateLine;
}

export class OutgoingAnswer extends Stream implements NodeJS.WritableStream {
  statusCode = 200;
  /** `writeHead` was called (the head goes out with the first write). */
  headersSent = false;
  /** The connection must close once this answer ends. */
  closing: boolean;
  writable = true;
  writableEnded = false;
  writableFinished = false;
  writableNeedDrain = false;
  destroyed = false;
  readonly #socket: Socket;
  readonly #request: RequestHead;
  readonly #serverClosing: () => boolean;
  /** The head, until it goes out with the first bytes. */
  #head: string | undefined;
  #chunked = false;
  /** The connection answered for this answer (`abandon`): destroying it leaves the socket alone. */
  #abandoned = false;
  #bodiless: boolean;
  #closeEmitted = false;
  readonly #onDrain = () => {
    this.writableNeedDrain = false;
    this.emit('drain');
  };

  /** `serverClosing` says whether the server closes connections after their answers (it is draining). */
  constructor(socket: Socket, request: RequestHead, serverClosing: () => boolean) {
    super();
    this.#socket = socket;
    this.#request = request;
    this.#serverClosing = serverClosing;
    this.closing = !request.keepAlive;
    this.#bodiless = request.method === 'HEAD';
  }

  writeHead(status: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.headersSent) throw new Error("The answer's head was already written.");
    this.statusCode = status;
    this.headersSent = true;
    if (connectionHas(headers['connection'], 'close') || this.#serverClosing()) this.closing = true;
    const bodiless = this.#bodiless || status === 204 || status === 304 || (status >= 100 && status < 200);
    this.#bodiless = bodiless;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n${headerLines(headers, OWN)}${date()}`;
    if (!bodiless && headers['content-length'] === undefined) {
      if (this.#request.httpVersion === '1.1') {
        this.#chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else this.closing = true;
    }
    head += this.closing
      ? 'connection: close\r\n\r\n'
      : this.#request.httpVersion === '1.1'
        ? 'connection: keep-alive\r\nkeep-alive: timeout=65\r\n\r\n'
        : 'connection: keep-alive\r\n\r\n';
    this.#head = head;
    return this;
  }

  write(
    chunk: Uint8Array | string,
    encoding?: BufferEncoding | ((err?: Error | null) => void),
    cb?: (err?: Error | null) => void,
  ): boolean {
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (this.writableEnded || this.destroyed) {
      if (callback) process.nextTick(callback);
      return false;
    }
    if (!this.headersSent) this.writeHead(this.statusCode);
    const ok = this.#send(this.#framed(bytesOf(chunk, encoding)));
    if (callback) process.nextTick(callback);
    return ok;
  }

  end(
    chunk?: Uint8Array | string | (() => void),
    encoding?: BufferEncoding | (() => void),
    cb?: () => void,
  ): this {
    const callback = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb;
    if (this.writableEnded || this.destroyed) {
      if (callback) process.nextTick(callback);
      return this;
    }
    const bytes = chunk === undefined || typeof chunk === 'function' ? undefined : bytesOf(chunk, encoding);
    if (!this.headersSent) {
      const length = String(bytes?.length ?? 0);
      this.writeHead(this.statusCode, this.#bodiless ? {} : { 'content-length': length });
    }
    let out = this.#framed(bytes);
    if (this.#chunked && !this.#bodiless)
      out = out === undefined ? LAST_CHUNK : Buffer.concat([out, LAST_CHUNK]);
    this.#send(out);
    this.writableEnded = true;
    this.writable = false;
    process.nextTick(() => {
      if (this.destroyed) return;
      this.writableFinished = true;
      this.emit('finish');
      callback?.();
      this.#emitClose();
    });
    return this;
  }

  /** Closes the answer without a byte of it sent: the connection writes its own refusal instead. */
  abandon(): void {
    this.#abandoned = true;
    this.destroy();
  }

  destroy(_err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    // An answer cut before its end cannot be framed any more: the connection goes with it.
    if (!this.writableFinished && !this.#abandoned) this.#socket.destroy();
    process.nextTick(() => this.#emitClose());
    return this;
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#socket.off('drain', this.#onDrain);
    this.emit('close');
  }

  /** Body bytes as they go on the wire (a chunk when chunked); none for a bodiless answer or no bytes. */
  #framed(bytes: Uint8Array | undefined): Uint8Array | undefined {
    if (this.#bodiless || bytes === undefined || bytes.length === 0) return undefined;
    return this.#chunked
      ? Buffer.concat([Buffer.from(bytes.length.toString(16) + '\r\n', 'latin1'), bytes, CRLF])
      : bytes;
  }

  /** Writes the head (if it has not gone) and `bytes`; false when the socket asks to wait for `'drain'`. */
  #send(bytes: Uint8Array | undefined): boolean {
    const socket = this.#socket;
    // As on `node:http`: writing to a client that left is not an error; the answer just closes.
    if (socket.destroyed) {
      this.destroy();
      return false;
    }
    let out = bytes;
    if (this.#head !== undefined) {
      const head = Buffer.from(this.#head, 'latin1');
      this.#head = undefined;
      out = bytes === undefined ? head : Buffer.concat([head, bytes]);
    }
    if (out === undefined || socket.write(out)) return true;
    if (!this.writableNeedDrain) {
      this.writableNeedDrain = true;
      socket.once('drain', this.#onDrain);
    }
    return false;
  }
}

/** A chunk as bytes: a string in the encoding given (UTF-8 unless one is). */
function bytesOf(chunk: Uint8Array | string, encoding: unknown): Uint8Array {
  return typeof chunk === 'string'
    ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
    : chunk;
}
