/**
 * The bytes that start an HTTP/1.1 request: the request line and the headers, checked as `node:http`
 * checks them (a name must be a token; a value may not hold CR, LF or other control characters), so
 * that nothing a caller passes can split one message into two. The server's answers use the same lines.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { BAD_VALUE, TOKEN } from './message-parser.js';

/** How the body is framed: a known length (a number), chunks, or no body at all. */
export type BodyFraming = number | 'chunked' | 'none';

/** Framing and connection headers are the client's own business: a caller's are replaced. */
const OWN = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'host']);

export function requestHead(
  method: string,
  url: URL,
  headers: OutgoingHttpHeaders,
  framing: BodyFraming,
): string {
  if (!TOKEN.test(method)) throw new TypeError(`The method ${JSON.stringify(method)} is not an HTTP token.`);
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  head += headerLines(headers, OWN);
  if (framing === 'chunked') head += 'transfer-encoding: chunked\r\n';
  else if (framing !== 'none') head += `content-length: ${framing}\r\n`;
  return head + '\r\n';
}

/** `name: value` lines, CRLF-ended, of every header but those in `skip` (lower-cased names); checked. */
export function headerLines(headers: OutgoingHttpHeaders, skip: ReadonlySet<string>): string {
  let lines = '';
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (!TOKEN.test(name))
      throw new TypeError(`The header name ${JSON.stringify(name)} is not an HTTP token.`);
    if (skip.has(name.toLowerCase())) continue;
    if (Array.isArray(value)) for (const one of value) lines += line(name, one);
    else lines += line(name, String(value));
  }
  return lines;
}

function line(name: string, value: string): string {
  if (BAD_VALUE.test(value)) throw new TypeError(`The ${name} header holds a character HTTP does not allow.`);
  return `${name}: ${value}\r\n`;
}
