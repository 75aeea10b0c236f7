import { createServer as createHttpServer, request as httpRequest, Agent } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Server, type IncomingRequest, type OutgoingAnswer } from '../src/protocol/http1/server.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface Started {
  port: number;
  server: Http1Server;
  /** Requests the handler saw, with their bodies. */
  seen: { method: string; url: string; body: string; headers: IncomingRequest['headers'] }[];
  /** Requests the node:http fallback answered. */
  fallbackSeen: string[];
}

type Handler = (req: IncomingRequest, res: OutgoingAnswer, body: string) => void;

/** Echoes `METHOD url body` with a length, unless told otherwise. */
const echo: Handler = (req, res, body) => {
  const text = `${req.method} ${req.url} ${body}`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
};

async function start(
  handler: Handler = echo,
  options: {
    keepAliveTimeoutMs?: number;
    takes?: (target: string) => boolean;
    readBody?: boolean;
    now?: () => number;
  } = {},
): Promise<Started> {
  const fallbackSeen: string[] = [];
  const fallback = createHttpServer((req, res) => {
    fallbackSeen.push(`${req.method} ${req.url}`);
    res.end(`fallback ${req.url}`);
  });
  const seen: Started['seen'] = [];
  const server = new Http1Server({
    takes: options.takes ?? ((target) => target.startsWith('/v1')),
    handler: (req, res) => {
      if (options.readBody === false) return handler(req, res, '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method, url: req.url, body, headers: req.headers });
        handler(req, res, body);
      });
    },
    fallback,
    ...(options.keepAliveTimeoutMs ? { keepAliveTimeoutMs: options.keepAliveTimeoutMs } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  await new Promise<void>((resolve) => server.net.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.net.close(() => resolve()));
  });
  return { port: (server.net.address() as AddressInfo).port, server, seen, fallbackSeen };
}

/** Writes raw bytes on one connection and collects everything until the server closes it (or `untilText`). */
function raw(
  port: number,
  writes: (string | Buffer)[],
  untilText?: string,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('connect', () => {
      for (const w of writes) socket.write(w);
    });
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (untilText !== undefined && text.includes(untilText)) {
        socket.destroy();
        resolve({ text, closed: false });
      }
    });
    socket.on('close', () => resolve({ text, closed: true }));
    socket.on('error', reject);
  });
}

/** Status lines in order. */
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('Http1Server', () => {
  it('answers two requests on one kept-alive connection, with bodies by length and in chunks', async () => {
    const { port, seen } = await start();
    const got = await raw(
      port,
      [
        'POST /v1/a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello',
        'POST /v1/b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\ntrailer: t\r\n\r\n',
      ],
      'POST /v1/b abcde',
    );
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual([
      'POST /v1/a hello',
      'POST /v1/b abcde',
    ]);
    expect(statuses(got.text)).toEqual([200, 200]);
    expect(got.text).toContain('connection: keep-alive');
  });

  it('ignores empty lines before a request line, also between kept-alive requests', async () => {
    const { port, seen } = await start();
    const got = await raw(
      port,
      ['\r\nGET /v1/a HTTP/1.1\r\nhost: x\r\n\r\n\r\n', '\r\nGET /v1/b HTTP/1.1\r\nhost: x\r\n\r\n'],
      'GET /v1/b',
    );
    expect([statuses(got.text), seen.map((s) => s.url)]).toEqual([
      [200, 200],
      ['/v1/a', '/v1/b'],
    ]);
  });

  it('answers pipelined requests in order, each after the one before', async () => {
    let n = 0;
    const { port } = await start((req, res) => {
      const delay = n++ === 0 ? 30 : 0;
      setTimeout(() => {
        res.writeHead(200, { 'content-length': String(req.url.length) });
        res.end(req.url);
      }, delay);
    });
    const got = await raw(
      port,
      ['GET /v1/first HTTP/1.1\r\nhost: x\r\n\r\nGET /v1/second HTTP/1.1\r\nhost: x\r\n\r\n'],
      '/v1/second',
    );
    expect(got.text.indexOf('/v1/first')).toBeLessThan(got.text.indexOf('/v1/second'));
  });

  it('chunks an answer without a length to an HTTP/1.1 client, and ends one to HTTP/1.0 by closing', async () => {
    const { port } = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      res.end('data: 2\n\n');
    });
    const v11 = await raw(port, ['GET /v1/s HTTP/1.1\r\nhost: x\r\n\r\n'], '0\r\n\r\n');
    expect(v11.text).toContain('transfer-encoding: chunked');
    expect(v11.text).toContain('9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n');
    const v10 = await raw(port, ['GET /v1/s HTTP/1.0\r\n\r\n']);
    expect([
      v10.closed,
      v10.text.includes('transfer-encoding'),
      v10.text.endsWith('data: 1\n\ndata: 2\n\n'),
    ]).toEqual([true, false, true]);
  });

  it('sends no body to HEAD and for 204, and closes after a client asked for close', async () => {
    const { port } = await start((req, res) => {
      res.writeHead(req.url === '/v1/none' ? 204 : 200, {});
      res.end(req.url === '/v1/none' ? '' : 'body');
    });
    const head = await raw(port, ['HEAD /v1/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n']);
    expect([head.closed, head.text.includes('body'), head.text.includes('connection: close')]).toEqual([
      true,
      false,
      true,
    ]);
    const none = await raw(port, ['GET /v1/none HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n']);
    expect([statuses(none.text), none.text.includes('transfer-encoding')]).toEqual([[204], false]);
  });

  it('hands a connection whose request it does not take to the node:http fallback, at the start and between requests', async () => {
    const { port, fallbackSeen, seen } = await start();
    const first = await raw(
      port,
      ['GET /metrics HTTP/1.1\r\nhost: x\r\n\r\nGET /dashboard HTTP/1.1\r\nhost: x\r\n\r\n'],
      'fallback /dashboard',
    );
    expect(first.text).toContain('fallback /metrics');
    const mixed = await raw(
      port,
      [
        'GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n',
        'GET /v1/again HTTP/1.1\r\nhost: x\r\n\r\n',
      ],
      'fallback /v1/again',
    );
    expect(mixed.text.indexOf('GET /v1/models')).toBeLessThan(mixed.text.indexOf('fallback /healthz'));
    expect(fallbackSeen).toEqual(['GET /metrics', 'GET /dashboard', 'GET /healthz', 'GET /v1/again']);
    expect(seen.map((s) => s.url)).toEqual(['/v1/models']);
  });

  it.each([
    [
      'a length and Transfer-Encoding',
      'POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'a Transfer-Encoding not ending in chunked',
      'POST /v1/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, gzip\r\n\r\n',
      400,
    ],
    [
      'two different lengths',
      'POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      400,
    ],
    ['a length that is not a number', 'POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: +1\r\n\r\na', 400],
    ['an HTTP/1.1 request without Host', 'GET /v1/x HTTP/1.1\r\n\r\n', 400],
    ['a control character in a header', 'GET /v1/x HTTP/1.1\r\nhost: x\r\nx-a: b\x01c\r\n\r\n', 400],
    ['a header line without a name', 'GET /v1/x HTTP/1.1\r\nhost: x\r\n: v\r\n\r\n', 400],
    ['a bad chunk size', 'POST /v1/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', 400],
    ['a request line that is not HTTP/1.x', 'GET /v1/x HTTP/2.0\r\nhost: x\r\n\r\n', 400],
    [
      'an Expect it does not do',
      'POST /v1/x HTTP/1.1\r\nhost: x\r\nexpect: magic\r\ncontent-length: 0\r\n\r\n',
      417,
    ],
    ['a head over 64 KiB', `GET /v1/x HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`, 431],
  ])(
    'refuses %s with its status and closes the connection; no request reaches the handler whole',
    async (_what, text, status) => {
      const { port, seen } = await start(echo, { readBody: true });
      let handled = 0;
      const got = await raw(port, [text]);
      handled += seen.length;
      expect([statuses(got.text), got.closed, handled]).toEqual([[status], true, 0]);
    },
  );

  it('answers 100 Continue before the body of a request that expects it', async () => {
    const { port } = await start();
    const got = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.write('POST /v1/x HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n');
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        if (text === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hi');
        if (text.includes('POST /v1/x hi')) {
          socket.destroy();
          resolve(text);
        }
      });
    });
    expect(statuses(got)).toEqual([100, 200]);
  });

  it('closes the answer (not finished) when the client leaves while it is pending', async () => {
    let closedUnfinished: Promise<boolean> | undefined;
    const { port } = await start((_req, res) => {
      closedUnfinished = new Promise((resolve) => res.on('close', () => resolve(!res.writableFinished)));
    });
    const socket = connect(port, '127.0.0.1');
    socket.write('POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
    while (!closedUnfinished) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    expect(await closedUnfinished).toBe(true);
  });

  it('closes a kept-alive connection left idle past its timeout', async () => {
    const { port } = await start(echo, { keepAliveTimeoutMs: 50 });
    const got = await raw(port, ['GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n']);
    expect([statuses(got.text), got.closed]).toEqual([[200], true]);
  });

  it('closes idle connections and keeps one whose request is being answered, until closeAllConnections', async () => {
    let release: (() => void) | undefined;
    const { port, server } = await start((req, res) => {
      if (req.url === '/v1/slow') release = () => echo(req, res, '');
      else echo(req, res, '');
    });
    const idle = raw(port, ['GET /v1/quick HTTP/1.1\r\nhost: x\r\n\r\n']);
    const busy = raw(port, ['GET /v1/slow HTTP/1.1\r\nhost: x\r\n\r\n']);
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    server.closeIdleConnections();
    expect((await idle).closed).toBe(true);
    server.closing();
    release();
    const slow = await busy;
    expect([statuses(slow.text), slow.text.includes('connection: close')]).toEqual([[200], true]);
  });

  it('carries a large body both ways through node:http clients with keep-alive', async () => {
    const { port } = await start(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
      },
      { readBody: false },
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(() => agent.destroy());
    const body = Buffer.alloc(3 << 20, 'x');
    for (let i = 0; i < 2; i++) {
      const got = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { port, host: '127.0.0.1', path: '/v1/echo', method: 'POST', agent },
          (res) => {
            let size = 0;
            res.on('data', (c: Buffer) => (size += c.length));
            res.on('end', () => resolve(size));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(got).toBe(body.length);
    }
  });

  it.each([
    ['a head', 'GET /v1/x HTTP/1.1\r\nhost: x\r\n', 61_000, 'x-a: 1\r\n\r\n'],
    ['a body', 'POST /v1/x HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab', 301_000, 'c'],
  ])(
    'answers 408 and closes when %s still has not arrived whole past its deadline',
    async (_what, first, later, more) => {
      let now = 0;
      const { port } = await start(echo, { now: () => now });
      const got = new Promise<{ text: string; closed: boolean }>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('close', () => resolve({ text, closed: true }));
        socket.write(first, () => {
          setTimeout(() => {
            now += later;
            socket.write(more);
          }, 20);
        });
      });
      const { text, closed } = await got;
      expect([statuses(text), closed]).toEqual([[408], true]);
    },
  );

  it('does not count the time a kept-alive connection sat idle against the next request', async () => {
    let now = 0;
    const { port } = await start(echo, { now: () => now });
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.write('GET /v1/a HTTP/1.1\r\nhost: x\r\n\r\n');
    while (!text.includes('GET /v1/a')) await new Promise((resolve) => setTimeout(resolve, 5));
    now += 62_000;
    socket.write('GET /v1/b HTTP/1.1\r\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write('host: x\r\n\r\n');
    while (!text.includes('GET /v1/b')) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();
    expect(statuses(text)).toEqual([200, 200]);
  });
});
