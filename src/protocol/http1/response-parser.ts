/**
 * Reads one HTTP/1.1 response off a connection's bytes: the head (status line and headers), then the
 * body by its framing (`Content-Length`, chunked, or until the connection closes). Bodies are handed on
 * as slices of the bytes received, never copied. Interim answers (`100 Continue`, `103 Early Hints`) are
 * skipped. Anything that does not follow RFC 9112 is an `Http1Error`: the connection cannot be trusted
 * after it.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The head of a response. */
export interface ResponseHead {
  status: number;
  /** Lower-cased names; repeated headers joined with `, ` (`set-cookie`: an array), as `node:http` does. */
  headers: IncomingHttpHeaders;
  /** The connection may carry another request once this body ends. */
  keepAlive: boolean;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** The upstream broke HTTP/1.1 framing. */
export class Http1Error extends Error {
  override name = 'Http1Error';
}

/** Larger heads (status line, headers, or a chunked body's trailers) are refused. */
export const MAX_HEAD_BYTES = 65_536;
/** A chunk-size line (the size and its extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;

/** Headers that `node:http` keeps once: a repeat is dropped, not joined. */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible characters, spaces and tabs, and obs-text (bytes 0x80–0xFF). */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;
const EMPTY = Buffer.alloc(0);
const CRLF2 = Buffer.from('\r\n\r\n');

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

export class ResponseParser {
  readonly #events: ResponseEvents;
  readonly #bodiless: boolean;
  #state = State.Head;
  /** Bytes kept between feeds: an unfinished head, chunk-size line, chunk end or trailers. */
  #held: Buffer = EMPTY;
  /** Body bytes left: of the whole body (Length) or of the current chunk (ChunkData). */
  #left = 0;
  /** An interim answer (1xx) has arrived. */
  #interim = false;
  /** Bytes fed after the response ended (a server that sent more than it framed). */
  extra = 0;

  /** `method` is the request's: the answer to a `HEAD` has no body, whatever its headers say. */
  constructor(method: string, events: ResponseEvents) {
    this.#events = events;
    this.#bodiless = method === 'HEAD';
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Whether anything of a response (even an interim one) has arrived. */
  get started(): boolean {
    return this.#state !== State.Head || this.#held.length > 0 || this.#interim;
  }

  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.#state) {
        case State.Head:
          at = this.#head(chunk, at);
          break;
        case State.Length: {
          const n = Math.min(this.#left, chunk.length - at);
          this.#left -= n;
          this.#events.data(chunk.subarray(at, at + n));
          at += n;
          if (this.#left === 0) this.#end();
          break;
        }
        case State.ChunkSize:
          at = this.#chunkSize(chunk, at);
          break;
        case State.ChunkData: {
          const n = Math.min(this.#left, chunk.length - at);
          this.#left -= n;
          this.#events.data(chunk.subarray(at, at + n));
          at += n;
          if (this.#left === 0) this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkEnd:
          at = this.#chunkEnd(chunk, at);
          break;
        case State.Trailers:
          at = this.#trailers(chunk, at);
          break;
        case State.UntilClose:
          this.#events.data(at === 0 ? chunk : chunk.subarray(at));
          at = chunk.length;
          break;
        case State.Done:
          this.extra += chunk.length - at;
          return;
      }
    }
  }

  /** The connection closed: ends a body framed by the close; a response cut short is an error. */
  close(): void {
    if (this.#state === State.UntilClose) return this.#end();
    if (this.#state !== State.Done) throw new Http1Error('The connection closed before the answer ended.');
  }

  /** Collects bytes up to a blank line; answers the position after it, or -1 (all held). */
  #collect(chunk: Buffer, at: number, what: string): { block: Buffer; next: number } | undefined {
    const from = Math.max(0, this.#held.length - 3);
    const data =
      this.#held.length === 0 ? chunk.subarray(at) : Buffer.concat([this.#held, chunk.subarray(at)]);
    const end = data.indexOf(CRLF2, from);
    if (end < 0) {
      if (data.length > MAX_HEAD_BYTES)
        throw new Http1Error(`The upstream sent ${what} over ${MAX_HEAD_BYTES} bytes.`);
      this.#held = Buffer.from(data);
      return undefined;
    }
    if (end + 4 > MAX_HEAD_BYTES)
      throw new Http1Error(`The upstream sent ${what} over ${MAX_HEAD_BYTES} bytes.`);
    const used = end + 4 - this.#held.length;
    const block = data.subarray(0, end);
    this.#held = EMPTY;
    return { block, next: at + used };
  }

  #head(chunk: Buffer, at: number): number {
    const got = this.#collect(chunk, at, 'a head');
    if (!got) return chunk.length;
    const lines = got.block.toString('latin1').split('\r\n');
    const start = STATUS_LINE.exec(lines[0]!);
    if (!start)
      throw new Http1Error(
        `The upstream's status line is not HTTP/1.x: ${JSON.stringify(lines[0]!.slice(0, 80))}.`,
      );
    const status = Number(start[2]);
    const headers = readHeaders(lines);
    if (status >= 100 && status < 200) {
      if (status === 101)
        throw new Http1Error('The upstream switched protocols (101), which the gateway never asks for.');
      this.#interim = true;
      return got.next;
    }
    const connection = String(headers['connection'] ?? '').toLowerCase();
    let keepAlive =
      start[1] === '1'
        ? !/(^|,)\s*close\s*(,|$)/.test(connection)
        : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
    const te = headers['transfer-encoding'];
    const length = headers['content-length'];
    let framing: State;
    if (this.#bodiless || status === 204 || status === 304) framing = State.Done;
    else if (te !== undefined) {
      // RFC 9112 §6.3: chunked last means chunked; a length beside it is ignored, and the connection closed after.
      if (length !== undefined) keepAlive = false;
      if (/(^|,)\s*chunked\s*$/i.test(String(te))) framing = State.ChunkSize;
      else {
        framing = State.UntilClose;
        keepAlive = false;
      }
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(String(length)))
        throw new Http1Error(`The upstream's Content-Length is not a number: ${JSON.stringify(length)}.`);
      this.#left = Number(length);
      framing = this.#left === 0 ? State.Done : State.Length;
    } else {
      framing = State.UntilClose;
      keepAlive = false;
    }
    this.#state = framing === State.Done ? State.Head : framing;
    this.#events.head({ status, headers, keepAlive });
    if (framing === State.Done) this.#end();
    return got.next;
  }

  #chunkSize(chunk: Buffer, at: number): number {
    const data = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk.subarray(at)]);
    const from = this.#held.length === 0 ? at : 0;
    const eol = data.indexOf('\r\n', from, 'latin1');
    if (eol < 0) {
      if (data.length - from > MAX_CHUNK_LINE)
        throw new Http1Error('The upstream sent a chunk-size line too long to be one.');
      this.#held = Buffer.from(data.subarray(from));
      return chunk.length;
    }
    if (eol - from > MAX_CHUNK_LINE)
      throw new Http1Error('The upstream sent a chunk-size line too long to be one.');
    const line = data.toString('latin1', from, eol);
    const used = this.#held.length === 0 ? eol + 2 : at + eol + 2 - this.#held.length;
    this.#held = EMPTY;
    const semi = line.indexOf(';');
    const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex))
      throw new Http1Error(`The upstream sent a bad chunk size: ${JSON.stringify(line.slice(0, 40))}.`);
    this.#left = parseInt(hex, 16);
    this.#state = this.#left === 0 ? State.Trailers : State.ChunkData;
    return used;
  }

  #chunkEnd(chunk: Buffer, at: number): number {
    const need = this.#held.length === 0 ? 2 : 1;
    if (chunk.length - at < need) {
      if (chunk[at] !== 0x0d) throw new Http1Error('The upstream did not end a chunk with CRLF.');
      this.#held = Buffer.from('\r');
      return chunk.length;
    }
    const ok = need === 2 ? chunk[at] === 0x0d && chunk[at + 1] === 0x0a : chunk[at] === 0x0a;
    if (!ok) throw new Http1Error('The upstream did not end a chunk with CRLF.');
    this.#held = EMPTY;
    this.#state = State.ChunkSize;
    return at + need;
  }

  /** After the last chunk: trailers (read and dropped) up to a blank line, or the blank line alone. */
  #trailers(chunk: Buffer, at: number): number {
    if (this.#held.length === 0 && chunk.length - at >= 2 && chunk[at] === 0x0d && chunk[at + 1] === 0x0a) {
      this.#end();
      return at + 2;
    }
    // Trailers end with a blank line, like a head: prefix the CRLF that ended the chunk-size line.
    if (this.#held.length === 0) this.#held = Buffer.from('\r\n');
    const got = this.#collect(chunk, at, 'trailers');
    if (!got) return chunk.length;
    this.#end();
    return got.next;
  }

  #end(): void {
    this.#state = State.Done;
    this.#events.end();
  }
}

/** Header lines (`lines[1..]`) into `node:http`'s shape. */
function readHeaders(lines: string[]): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).toLowerCase() : '';
    if (!TOKEN.test(name))
      throw new Http1Error(
        `The upstream sent a malformed header line: ${JSON.stringify(line.slice(0, 80))}.`,
      );
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value))
      throw new Http1Error(`The upstream's ${name} header holds a control character.`);
    const had = headers[name];
    if (had === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (had as string[]).push(value);
    else if (name === 'content-length') {
      if (had !== value) throw new Http1Error('The upstream sent two different Content-Length headers.');
    } else if (!SINGLE.has(name)) headers[name] = `${had as string}, ${value}`;
  }
  return headers;
}
