/**
 * Reads one HTTP/1.1 request off a client connection's bytes (`MessageParser` does the framing): the
 * request line and headers, then the body by `Content-Length` or chunks. It refuses what could make one
 * request read as two (RFC 9112 §6.3, §11.2): both a length and `Transfer-Encoding`, a
 * `Transfer-Encoding` that does not end in `chunked`, two different lengths, a length that is not a
 * number, control characters in a header; and an HTTP/1.1 request without `Host`, as `node:http` does.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  connectionHas,
  Http1Error,
  MessageParser,
  readHeaders,
  TOKEN,
  type BodyEvents,
  type Framing,
} from './message-parser.js';

/**
 * The head of a request. A class, as everything that lives as long as a request here: V8 moves
 * the objects of an object literal whose objects outlive a young-generation collection straight into
 * the old generation, which then needs full collections (pauses of milliseconds) several times as often.
 */
export class RequestHead {
  constructor(
    readonly method: string,
    /** The request target as sent (`/v1/chat/completions?x=1`, or an absolute URL). */
    readonly url: string,
    /** `1.1` or `1.0`. */
    readonly httpVersion: string,
    /** Lower-cased names; repeated headers joined with `, ` (`set-cookie`: an array), as `node:http` does. */
    readonly headers: IncomingHttpHeaders,
    /** The client may send another request on this connection once this one is answered. */
    readonly keepAlive: boolean,
    /** The body's framing: what `node:http` would have read. */
    readonly framing: Framing,
  ) {}
}

export interface RequestEvents extends BodyEvents {
  head(head: RequestHead): void;
}

/** A request target: visible ASCII, no spaces. */
const TARGET = /^[\x21-\x7e]+$/;

export class RequestParser extends MessageParser {
  protected readonly who = 'The client';
  protected readonly cut = 'The client closed the connection before the request ended.';
  readonly #head: (head: RequestHead) => void;

  constructor(events: RequestEvents) {
    super(events);
    this.#head = (head) => events.head(head);
  }

  /** Whether any byte of this request has arrived. */
  get started(): boolean {
    return this.holding;
  }

  protected onHead(lines: string[]): Framing {
    const [method, url, version, more] = lines[0]!.split(' ');
    const minor = version === 'HTTP/1.1' ? '1' : version === 'HTTP/1.0' ? '0' : undefined;
    if (
      !method ||
      !TOKEN.test(method) ||
      !url ||
      !TARGET.test(url) ||
      minor === undefined ||
      more !== undefined
    )
      throw new Http1Error(`The request line is not HTTP/1.x: ${JSON.stringify(lines[0]!.slice(0, 80))}.`);
    const headers = readHeaders(lines, this.who);
    if (minor === '1' && headers['host'] === undefined)
      throw new Http1Error('The request has no Host header, which HTTP/1.1 requires.');
    const te = headers['transfer-encoding'];
    const length = headers['content-length'];
    let framing: Framing;
    if (te !== undefined) {
      if (length !== undefined)
        throw new Http1Error('The request has both Content-Length and Transfer-Encoding.');
      if (!/(^|,)\s*chunked\s*$/i.test(String(te)))
        throw new Http1Error('The request has a Transfer-Encoding that does not end in chunked.');
      framing = 'chunked';
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(String(length)))
        throw new Http1Error(`The request's Content-Length is not a number: ${JSON.stringify(length)}.`);
      framing = Number(length);
    } else framing = 'none';
    const connection = headers['connection'];
    const keepAlive =
      minor === '1' ? !connectionHas(connection, 'close') : connectionHas(connection, 'keep-alive');
    this.#head(new RequestHead(method, url, `1.${minor}`, headers, keepAlive, framing));
    return framing;
  }
}
