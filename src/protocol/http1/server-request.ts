/**
 * A request as the server side hands it to its handler: the head's fields under `node:http`'s names
 * (`method`, `url`, `headers`, `httpVersion`) and the body as a `MessageBody` stream fed by the
 * connection.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { MessageBody } from './body.js';
import type { RequestHead } from './request-parser.js';

export class IncomingRequest extends MessageBody {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly httpVersion: string;

  constructor(head: RequestHead, resume: () => void) {
    super(resume, () => {});
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.httpVersion = head.httpVersion;
  }
}
