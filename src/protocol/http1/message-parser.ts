/**
 * What reading an HTTP/1.1 message off a connection's bytes shares between requests and responses: the
 * head collected up to its blank line and split into `node:http`'s header shape, then the body by its
 * framing (a length, chunks with their extensions and trailers, or until the connection closes).
 * Bodies are handed on as slices of the bytes received, never copied. Anything that does not follow
 * RFC 9112 is an `Http1Error`: the connection cannot be trusted after it.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The peer broke HTTP/1.1 framing. `status` is the answer a server gives it (400, 431). */
export class Http1Error extends Error {
  override name = 'Http1Error';
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

/** Larger heads (start line, headers, or a chunked body's trailers) are refused. */
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
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a field value may not hold: anything but visible characters, spaces, tabs and obs-text (0x80–0xFF). */
export const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const EMPTY = Buffer.alloc(0);
const CRLF2 = Buffer.from('\r\n\r\n');

/** How a message's body is delimited: a number is its length in bytes. */
export type Framing = number | 'chunked' | 'close' | 'none';

export interface BodyEvents {
  data(chunk: Buffer): void;
  end(): void;
}

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

export abstract class MessageParser {
  /** Who sent the bytes, as error messages name them: `The upstream`, `The client`. */
  protected abstract readonly who: string;
  /** What a message cut short by the connection's close is called. */
  protected abstract readonly cut: string;
  readonly #body: BodyEvents;
  #state = State.Head;
  /** Bytes kept between feeds: an unfinished head, chunk-size line, chunk end or trailers. */
  #held: Buffer = EMPTY;
  /** Body bytes left: of the whole body (Length) or of the current chunk (ChunkData). */
  #left = 0;

  constructor(body: BodyEvents) {
    this.#body = body;
  }

  get done(): boolean {
    return this.#state === State.Done;
  }

  /** Whether any byte of a head is held. */
  protected get holding(): boolean {
    return this.#state !== State.Head || this.#held.length > 0;
  }

  /**
   * A complete head, without its blank line, split into lines: its framing, or `undefined` when it was
   * an interim answer and another head follows.
   */
  protected abstract onHead(lines: string[]): Framing | undefined;

  /** Feeds bytes; answers how many belonged to this message (it stops at the message's end). */
  feed(chunk: Buffer): number {
    let at = 0;
    while (at < chunk.length) {
      switch (this.#state) {
        case State.Head:
          at = this.#head(chunk, at);
          break;
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.#left, chunk.length - at);
          this.#left -= n;
          this.#body.data(chunk.subarray(at, at + n));
          at += n;
          if (this.#left > 0) break;
          if (this.#state === State.Length) this.#end();
          else this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkSize:
          at = this.#chunkSize(chunk, at);
          break;
        case State.ChunkEnd:
          at = this.#chunkEnd(chunk, at);
          break;
        case State.Trailers:
          at = this.#trailers(chunk, at);
          break;
        case State.UntilClose:
          this.#body.data(at === 0 ? chunk : chunk.subarray(at));
          at = chunk.length;
          break;
        case State.Done:
          return at;
      }
    }
    return at;
  }

  /** The connection closed: ends a body framed by the close; a message cut short is an error. */
  close(): void {
    if (this.#state === State.UntilClose) return this.#end();
    if (this.#state !== State.Done) throw new Http1Error(this.cut);
  }

  /** Collects bytes up to a blank line; answers the block and the position after it, or undefined (all held). */
  #collect(chunk: Buffer, at: number, what: string): { block: Buffer; next: number } | undefined {
    const from = Math.max(0, this.#held.length - 3);
    const data =
      this.#held.length === 0 ? chunk.subarray(at) : Buffer.concat([this.#held, chunk.subarray(at)]);
    const end = data.indexOf(CRLF2, from);
    if (end < 0 ? data.length > MAX_HEAD_BYTES : end + 4 > MAX_HEAD_BYTES)
      throw new Http1Error(`${this.who} sent ${what} over ${MAX_HEAD_BYTES} bytes.`, 431);
    if (end < 0) {
      this.#held = Buffer.from(data);
      return undefined;
    }
    const used = end + 4 - this.#held.length;
    const block = data.subarray(0, end);
    this.#held = EMPTY;
    return { block, next: at + used };
  }

  #head(chunk: Buffer, at: number): number {
    const got = this.#collect(chunk, at, 'a head');
    if (!got) return chunk.length;
    const framing = this.onHead(got.block.toString('latin1').split('\r\n'));
    if (framing === undefined) return got.next;
    if (framing === 'none' || framing === 0) this.#end();
    else if (framing === 'chunked') this.#state = State.ChunkSize;
    else if (framing === 'close') this.#state = State.UntilClose;
    else {
      this.#left = framing;
      this.#state = State.Length;
    }
    return got.next;
  }

  #chunkSize(chunk: Buffer, at: number): number {
    const data = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk.subarray(at)]);
    const from = this.#held.length === 0 ? at : 0;
    const eol = data.indexOf('\r\n', from, 'latin1');
    if (eol < 0 ? data.length - from > MAX_CHUNK_LINE : eol - from > MAX_CHUNK_LINE)
      throw new Http1Error(`${this.who} sent a chunk-size line too long to be one.`);
    if (eol < 0) {
      this.#held = Buffer.from(data.subarray(from));
      return chunk.length;
    }
    const line = data.toString('latin1', from, eol);
    const used = this.#held.length === 0 ? eol + 2 : at + eol + 2 - this.#held.length;
    this.#held = EMPTY;
    const semi = line.indexOf(';');
    const hex = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex))
      throw new Http1Error(`${this.who} sent a bad chunk size: ${JSON.stringify(line.slice(0, 40))}.`);
    this.#left = parseInt(hex, 16);
    this.#state = this.#left === 0 ? State.Trailers : State.ChunkData;
    return used;
  }

  #chunkEnd(chunk: Buffer, at: number): number {
    const need = this.#held.length === 0 ? 2 : 1;
    if (chunk.length - at < need) {
      if (chunk[at] !== 0x0d) throw new Http1Error(`${this.who} did not end a chunk with CRLF.`);
      this.#held = Buffer.from('\r');
      return chunk.length;
    }
    const ok = need === 2 ? chunk[at] === 0x0d && chunk[at + 1] === 0x0a : chunk[at] === 0x0a;
    if (!ok) throw new Http1Error(`${this.who} did not end a chunk with CRLF.`);
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
    this.#body.end();
  }
}

/**
 * An empty headers object that inherits nothing (no header name can meet `constructor` or
 * `__proto__` of a prototype) and keeps V8's fast properties, which `Object.create(null)` does not:
 * the gateway reads headers by name many times per request.
 */
const HeaderBag = function HeaderBag() {} as unknown as new () => IncomingHttpHeaders;
(HeaderBag as unknown as { prototype: object }).prototype = Object.create(null) as object;

/** Header lines (`lines[1..]`) into `node:http`'s shape; `who` names the sender in errors. */
export function readHeaders(lines: string[], who: string): IncomingHttpHeaders {
  const headers = new HeaderBag();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).toLowerCase() : '';
    if (!TOKEN.test(name))
      throw new Http1Error(`${who} sent a malformed header line: ${JSON.stringify(line.slice(0, 80))}.`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new Http1Error(`${who}'s ${name} header holds a control character.`);
    const had = headers[name];
    if (had === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (had as string[]).push(value);
    else if (name === 'content-length') {
      if (had !== value) throw new Http1Error(`${who} sent two different Content-Length headers.`);
    } else if (!SINGLE.has(name)) headers[name] = `${had as string}, ${value}`;
  }
  return headers;
}

/** Whether a `Connection` header value lists `option` (`close`, `keep-alive`). */
export function connectionHas(value: unknown, option: string): boolean {
  if (value === undefined) return false;
  return String(value)
    .toLowerCase()
    .split(',')
    .some((part) => part.trim() === option);
}
