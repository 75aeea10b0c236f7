/**
 * Reads one HTTP/1.1 response off a connection's bytes (`MessageParser` does the framing): the status
 * line and headers, then the body by `Content-Length`, chunks, or until the connection closes.
 * Interim answers (`100 Continue`, `103 Early Hints`) are skipped; `101` is refused, as the client never
 * asks to switch protocols.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  connectionHas,
  Http1Error,
  MessageParser,
  readHeaders,
  type BodyEvents,
  type Framing,
} from './message-parser.js';

export { Http1Error, MAX_HEAD_BYTES } from './message-parser.js';

/** The head of a response. */
export interface ResponseHead {
  status: number;
  /** Lower-cased names; repeated headers joined with `, ` (`set-cookie`: an array), as `node:http` does. */
  headers: IncomingHttpHeaders;
  /** The connection may carry another request once this body ends. */
  keepAlive: boolean;
}

export interface ResponseEvents extends BodyEvents {
  head(head: ResponseHead): void;
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [^\r\n]*)?$/;

export class ResponseParser extends MessageParser {
  protected readonly who = 'The upstream';
  protected readonly cut = 'The connection closed before the answer ended.';
  readonly #head: (head: ResponseHead) => void;
  readonly #bodiless: boolean;
  /** An interim answer (1xx) has arrived. */
  #interim = false;
  /** Bytes fed after the response ended (a server that sent more than it framed). */
  extra = 0;

  /** `method` is the request's: the answer to a `HEAD` has no body, whatever its headers say. */
  constructor(method: string, events: ResponseEvents) {
    super(events);
    this.#head = (head) => events.head(head);
    this.#bodiless = method === 'HEAD';
  }

  /** Whether anything of a response (even an interim one) has arrived. */
  get started(): boolean {
    return this.holding || this.#interim;
  }

  override feed(chunk: Buffer): number {
    const used = super.feed(chunk);
    this.extra += chunk.length - used;
    return used;
  }

  protected onHead(lines: string[]): Framing | undefined {
    const start = STATUS_LINE.exec(lines[0]!);
    if (!start)
      throw new Http1Error(
        `The upstream's status line is not HTTP/1.x: ${JSON.stringify(lines[0]!.slice(0, 80))}.`,
      );
    const status = Number(start[2]);
    const headers = readHeaders(lines, this.who);
    if (status >= 100 && status < 200) {
      if (status === 101)
        throw new Http1Error('The upstream switched protocols (101), which the gateway never asks for.');
      this.#interim = true;
      return undefined;
    }
    const connection = headers['connection'];
    let keepAlive =
      start[1] === '1' ? !connectionHas(connection, 'close') : connectionHas(connection, 'keep-alive');
    const te = headers['transfer-encoding'];
    const length = headers['content-length'];
    let framing: Framing;
    if (this.#bodiless || status === 204 || status === 304) framing = 'none';
    else if (te !== undefined) {
      // RFC 9112 §6.3: chunked last means chunked; a length beside it is ignored, and the connection closed after.
      if (length !== undefined) keepAlive = false;
      if (/(^|,)\s*chunked\s*$/i.test(String(te))) framing = 'chunked';
      else {
        framing = 'close';
        keepAlive = false;
      }
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(String(length)))
        throw new Http1Error(`The upstream's Content-Length is not a number: ${JSON.stringify(length)}.`);
      framing = Number(length);
    } else {
      framing = 'close';
      keepAlive = false;
    }
    this.#head({ status, headers, keepAlive });
    return framing;
  }
}
