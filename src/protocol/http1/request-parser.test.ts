import { describe, expect, it } from 'vitest';
import { RequestParser, type RequestHead } from './request-parser.js';

function parse(text: string, splitAt?: number) {
  const out = { head: undefined as RequestHead | undefined, body: '', ended: false, used: 0 };
  const parser = new RequestParser({
    head: (head) => (out.head = head),
    data: (chunk) => (out.body += chunk.toString('latin1')),
    end: () => (out.ended = true),
  });
  const bytes = Buffer.from(text, 'latin1');
  const parts = splitAt === undefined ? [bytes] : [bytes.subarray(0, splitAt), bytes.subarray(splitAt)];
  for (const part of parts) out.used += parser.feed(part);
  return out;
}

const CHUNKED =
  'POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n' +
  '4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nx-trailer: t\r\n\r\n';

describe('RequestParser', () => {
  it('reads a chunked request alike wherever the bytes are split', () => {
    const whole = parse(CHUNKED);
    expect(whole.head).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions?x=1',
      httpVersion: '1.1',
      keepAlive: true,
      framing: 'chunked',
      headers: { host: 'gw', 'x-a': '1, 2' },
    });
    expect([whole.body, whole.ended, whole.used]).toEqual(['Wikipedia', true, CHUNKED.length]);
    for (let split = 1; split < CHUNKED.length; split++) {
      const got = parse(CHUNKED, split);
      expect([got.head?.url, got.body, got.ended, got.used], `split at ${split}`).toEqual([
        '/v1/chat/completions?x=1',
        'Wikipedia',
        true,
        CHUNKED.length,
      ]);
    }
  });

  it('stops at the end of its request and answers how many bytes were its own', () => {
    const first = 'POST /v1/a HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nok';
    const got = parse(first + 'GET /v1/b HTTP/1.1\r\nhost: x\r\n\r\n');
    expect([got.body, got.ended, got.used]).toEqual(['ok', true, first.length]);
  });

  it('reads keep-alive from the version and the Connection header', () => {
    expect(parse('GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, close\r\n\r\n').head?.keepAlive).toBe(
      false,
    );
    expect(parse('GET / HTTP/1.0\r\n\r\n').head?.keepAlive).toBe(false);
    expect(parse('GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n').head?.keepAlive).toBe(true);
  });

  it('ends a request without a length or chunks at its head', () => {
    const got = parse('GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n');
    expect([got.head?.framing, got.ended]).toEqual(['none', true]);
  });
});
