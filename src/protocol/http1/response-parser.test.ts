import { describe, expect, it } from 'vitest';
import { Http1Error, MAX_HEAD_BYTES, ResponseParser, type ResponseHead } from './response-parser.js';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ended: boolean;
  parser: ResponseParser;
}

function parser(method = 'POST'): Parsed {
  const parsed: Parsed = {
    heads: [],
    body: '',
    ended: false,
    parser: undefined as unknown as ResponseParser,
  };
  parsed.parser = new ResponseParser(method, {
    head: (h) => parsed.heads.push(h),
    data: (chunk) => (parsed.body += chunk.toString('latin1')),
    end: () => (parsed.ended = true),
  });
  return parsed;
}

/** Feeds `text` in pieces of `size` bytes. */
function feed(text: string, size = text.length, method?: string): Parsed {
  const parsed = parser(method);
  const bytes = Buffer.from(text, 'latin1');
  for (let at = 0; at < bytes.length; at += size) parsed.parser.feed(bytes.subarray(at, at + size));
  return parsed;
}

const CHUNKED =
  'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n' +
  '5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n';

describe('ResponseParser', () => {
  it('reads a Content-Length answer the same whether it comes whole or a byte at a time', () => {
    const text =
      'HTTP/1.1 201 Created\r\ncontent-length: 5\r\nx-ratelimit-remaining-requests: 9\r\n\r\nhello';
    for (const size of [text.length, 7, 1]) {
      const { heads, body, ended, parser } = feed(text, size);
      expect(heads).toHaveLength(1);
      expect(heads[0]!.status).toBe(201);
      expect(heads[0]!.headers['x-ratelimit-remaining-requests']).toBe('9');
      expect(heads[0]!.keepAlive).toBe(true);
      expect([body, ended, parser.done, parser.extra]).toEqual(['hello', true, true, 0]);
    }
  });

  it('reads a chunked body with extensions and trailers split at every byte boundary', () => {
    for (let split = 1; split < CHUNKED.length; split++) {
      const parsed = parser();
      parsed.parser.feed(Buffer.from(CHUNKED.slice(0, split), 'latin1'));
      parsed.parser.feed(Buffer.from(CHUNKED.slice(split), 'latin1'));
      expect([parsed.body, parsed.ended, parsed.parser.extra], `split at ${split}`).toEqual([
        'hello, world',
        true,
        0,
      ]);
    }
    expect(feed(CHUNKED, 1).body).toBe('hello, world');
  });

  it('ends a chunked body that has no trailers, even when its last CRLF comes alone', () => {
    const text = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    for (const size of [text.length, 1, 2, 3])
      expect(feed(text, size)).toMatchObject({ body: 'abc', ended: true });
  });

  it('skips interim answers and reports the final one, with started true once the first arrived', () => {
    const parsed = parser();
    expect(parsed.parser.started).toBe(false);
    parsed.parser.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'));
    expect(parsed.parser.started).toBe(true);
    expect(parsed.heads).toHaveLength(0);
    parsed.parser.feed(
      Buffer.from(
        'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
      ),
    );
    expect(parsed.heads.map((h) => h.status)).toEqual([200]);
    expect(parsed.body).toBe('ok');
  });

  it('gives no body to the answer of a HEAD, a 204 or a 304, whatever their length says', () => {
    expect(feed('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', undefined, 'HEAD')).toMatchObject({
      body: '',
      ended: true,
    });
    expect(feed('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ body: '', ended: true });
    const notModified = feed('HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n');
    expect(notModified).toMatchObject({ body: '', ended: true });
    expect(notModified.parser.extra).toBe(0);
  });

  it('reads an answer with no framing until the connection closes, and never keeps that connection', () => {
    const parsed = feed('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it');
    expect(parsed.ended).toBe(false);
    expect(parsed.heads[0]!.keepAlive).toBe(false);
    parsed.parser.close();
    expect(parsed).toMatchObject({ body: 'all of it', ended: true });
  });

  it('keeps a connection open as HTTP/1.1 and HTTP/1.0 say', () => {
    const keep = (head: string) => feed(`${head}\r\ncontent-length: 0\r\n\r\n`).heads[0]!.keepAlive;
    expect(keep('HTTP/1.1 200 OK')).toBe(true);
    expect(keep('HTTP/1.1 200 OK\r\nconnection: close')).toBe(false);
    expect(keep('HTTP/1.1 200 OK\r\nconnection: Upgrade, Close')).toBe(false);
    expect(keep('HTTP/1.0 200 OK')).toBe(false);
    expect(keep('HTTP/1.0 200 OK\r\nconnection: keep-alive')).toBe(true);
  });

  it('follows chunked framing over a Content-Length beside it, and does not keep the connection', () => {
    const parsed = feed(
      'HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    );
    expect(parsed).toMatchObject({ body: 'hi', ended: true });
    expect(parsed.heads[0]!.keepAlive).toBe(false);
  });

  it('joins repeated headers as node:http does: set-cookie as a list, single ones kept first', () => {
    const { headers } = feed(
      'HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\nSet-Cookie: x=1\r\nset-cookie: y=2\r\ncontent-type: a/b\r\ncontent-type: c/d\r\ncontent-length: 0\r\n\r\n',
    ).heads[0]!;
    expect(headers['vary']).toBe('a, b');
    expect(headers['set-cookie']).toEqual(['x=1', 'y=2']);
    expect(headers['content-type']).toBe('a/b');
  });

  it('counts bytes sent after the answer ended', () => {
    expect(feed('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA').parser.extra).toBe(5);
  });

  it.each([
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n', /status line is not HTTP\/1\.x/],
    ['a header line without a name', 'HTTP/1.1 200 OK\r\n folded: value\r\n\r\n', /malformed header line/],
    [
      'a control character in a value',
      'HTTP/1.1 200 OK\r\nx-a: b\x01c\r\n\r\n',
      /x-a header holds a control character/,
    ],
    [
      'two different lengths',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n',
      /two different Content-Length/,
    ],
    [
      'a length that is not a number',
      'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n',
      /Content-Length is not a number/,
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
    [
      'a chunk not ended by CRLF',
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab',
      /did not end a chunk with CRLF/,
    ],
    ['a switch of protocols', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', /switched protocols/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => feed(text)).toThrow(Http1Error);
    expect(() => feed(text)).toThrow(message);
  });

  it(`refuses a head over ${MAX_HEAD_BYTES} bytes, whole or in pieces`, () => {
    const text = `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    expect(() => feed(text)).toThrow(/over 65536 bytes/);
    expect(() => feed(text, 1000)).toThrow(/over 65536 bytes/);
  });

  it('says so when the connection closes before the answer ended', () => {
    const parsed = feed('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf');
    expect(() => parsed.parser.close()).toThrow('The connection closed before the answer ended.');
  });
});
