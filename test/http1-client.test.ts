import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Client, type Http1Answer } from '../src/protocol/http1/client.js';

const TLS = new URL('./fixtures/tls/', import.meta.url);
const cert = readFileSync(new URL('localhost.crt', TLS));
const key = readFileSync(new URL('localhost.key', TLS));

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Which connection (in order of arrival) carried it. */
  connection: number;
}

/** A node:http server on port 0 that records what arrives and answers with `handler`. */
async function server(
  handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void = (_req, res) => res.end('ok'),
  make: () => Server = () => createServer(),
): Promise<{ url: string; seen: Seen[]; connections: () => number; open: () => number }> {
  const srv = make();
  const seen: Seen[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  srv.on('connection', (socket: Socket) => {
    (socket as Socket & { n?: number }).n = connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  srv.on('secureConnection', (socket: Socket) => {
    (socket as Socket & { n?: number }).n = connections - 1;
  });
  srv.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one: Seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        connection: (req.socket as Socket & { n?: number }).n ?? -1,
      };
      seen.push(one);
      handler(req, res, one);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    srv.closeAllConnections?.();
    srv.close();
  });
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen,
    connections: () => connections,
    open: () => sockets.size,
  };
}

/** A raw TCP server: `onData` sees each connection's bytes and answers as it likes. */
async function rawServer(
  onData: (socket: Socket, data: string, n: number) => void,
): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const srv = createNetServer((socket) => {
    const n = connections++;
    socket.on('data', (d: Buffer) => onData(socket, d.toString('latin1'), n));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<Socket>();
  srv.on('connection', (s: Socket) => sockets.add(s));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, connections: () => connections };
}

function client(options?: ConstructorParameters<typeof Http1Client>[0]): Http1Client {
  const c = new Http1Client(options);
  closers.unshift(() => c.close());
  return c;
}

function text(answer: Http1Answer): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    answer.body.on('data', (c: Buffer) => (out += c.toString()));
    answer.body.on('end', () => resolve(out));
    answer.body.on('error', reject);
  });
}

const post = (url: string, body?: Buffer | Readable, headers: Record<string, string> = {}) => ({
  method: 'POST',
  url: new URL(url),
  headers,
  body,
  signal: new AbortController().signal,
});

describe('Http1Client', () => {
  it('sends method, path, query, host, headers and a buffered body, and keeps one connection for requests in turn', async () => {
    const up = await server((_req, res) =>
      res.writeHead(201, { 'x-ratelimit-remaining-requests': '7' }).end('made'),
    );
    const c = client();
    for (let i = 0; i < 3; i++) {
      const answer = await c.send(
        post(`${up.url}/v1/chat?x=${i}`, Buffer.from(`{"n":${i}}`), { authorization: 'Bearer k' }),
      );
      expect(answer.status).toBe(201);
      expect(answer.headers['x-ratelimit-remaining-requests']).toBe('7');
      expect(await text(answer)).toBe('made');
      expect(answer.body.complete).toBe(true);
    }
    expect(up.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['POST', '/v1/chat?x=0', '{"n":0}'],
      ['POST', '/v1/chat?x=1', '{"n":1}'],
      ['POST', '/v1/chat?x=2', '{"n":2}'],
    ]);
    expect(up.seen[0]!.headers).toMatchObject({
      host: new URL(up.url).host,
      authorization: 'Bearer k',
      'content-length': '7',
    });
    expect(up.connections()).toBe(1);
  });

  it('streams a request body of unknown length in chunks, and one with its own length as it is', async () => {
    const up = await server();
    const c = client();
    await text(await c.send(post(`${up.url}/a`, Readable.from([Buffer.from('one '), Buffer.from('two')]))));
    await text(
      await c.send(post(`${up.url}/b`, Readable.from([Buffer.from('abc')]), { 'content-length': '3' })),
    );
    expect(up.seen[0]).toMatchObject({ body: 'one two', headers: { 'transfer-encoding': 'chunked' } });
    expect(up.seen[1]).toMatchObject({ body: 'abc', headers: { 'content-length': '3' } });
    expect(up.seen[1]!.headers['transfer-encoding']).toBeUndefined();
  });

  it('hands on the first bytes of an answer before the upstream has sent the rest', async () => {
    let finish: () => void = () => {};
    const up = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finish = () => res.end('data: [DONE]\n\n');
    });
    const answer = await client().send(post(up.url, Buffer.from('{}')));
    const first = await new Promise<string>((resolve) =>
      answer.body.once('data', (c: Buffer) => resolve(c.toString())),
    );
    expect(first).toBe('data: first\n\n');
    expect(answer.body.complete).toBe(false);
    finish();
    expect(await text(answer)).toBe('data: [DONE]\n\n');
  });

  it('cancels the upstream request when the signal aborts before the answer', async () => {
    let closed!: () => void;
    const gone = new Promise<void>((resolve) => (closed = resolve));
    const up = await server((req) => req.socket.on('close', closed));
    const controller = new AbortController();
    const sent = client().send({ ...post(up.url, Buffer.from('{}')), signal: controller.signal });
    while (up.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('client went away'));
    await expect(sent).rejects.toThrow('client went away');
    await gone;
  });

  it('closes the connection when a body is abandoned half-read, and serves the next request on a new one', async () => {
    const up = await server((req, res, seen) => {
      res.writeHead(200);
      res.write('part');
      if (seen.url === '/second') res.end();
    });
    const c = client();
    const first = await c.send(post(`${up.url}/first`, Buffer.from('{}')));
    await new Promise((resolve) => first.body.once('data', resolve));
    first.body.destroy();
    while (up.open() > 0) await new Promise((r) => setTimeout(r, 5));
    expect(await text(await c.send(post(`${up.url}/second`, Buffer.from('{}'))))).toBe('part');
    expect(up.seen.map((s) => s.connection)).toEqual([0, 1]);
  });

  it('sends a buffered request again on a new connection when a kept-alive one was closed by the upstream', async () => {
    // Answers the first request on each connection, then closes that connection at the next one's bytes.
    const up = await rawServer((socket, data, n) => {
      if ((socket as Socket & { used?: boolean }).used) return void socket.destroy();
      (socket as Socket & { used?: boolean }).used = true;
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n}`);
      expect(data).toMatch(/^POST \/ HTTP\/1\.1\r\n/);
    });
    const c = client();
    expect(await text(await c.send(post(`${up.url}/`, Buffer.from('{}'))))).toBe('0');
    expect(await text(await c.send(post(`${up.url}/`, Buffer.from('{}'))))).toBe('1');
    expect(up.connections()).toBe(2);
  });

  it('does not send a streamed body twice: a stale connection fails that request', async () => {
    const up = await rawServer((socket) => {
      if ((socket as Socket & { used?: boolean }).used) return void socket.destroy();
      (socket as Socket & { used?: boolean }).used = true;
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    const c = client();
    await text(await c.send(post(`${up.url}/`, Buffer.from('{}'))));
    await expect(c.send(post(`${up.url}/`, Readable.from([Buffer.from('x')])))).rejects.toThrow();
    expect(up.connections()).toBe(1);
  });

  it('opens at most maxSockets connections; requests beyond wait and all complete', async () => {
    let peak = 0;
    const up = await server((_req, res) => {
      peak = Math.max(peak, up.open());
      setTimeout(() => res.end('ok'), 10);
    });
    const c = client({ maxSockets: 2 });
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => c.send(post(up.url, Buffer.from('{}'))).then(text)),
    );
    expect(answers).toEqual(Array(6).fill('ok'));
    expect(up.connections()).toBe(2);
    expect(peak).toBe(2);
  });

  it('does not reuse a connection the upstream said to close, or one that sent more than it framed', async () => {
    // Both answers leave the socket open: only the client's own reading can tell it not to reuse it.
    const up = await rawServer((socket, data) => {
      if (data.includes('/close'))
        socket.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA');
    });
    const c = client();
    for (const path of ['/close', '/extra', '/close'])
      expect(await text(await c.send(post(`${up.url}${path}`, Buffer.from('{}'))))).toBe('ok');
    expect(up.connections()).toBe(3);
  });

  it('reads an answer framed by the close of its connection', async () => {
    const up = await rawServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'),
    );
    const answer = await client().send(post(`${up.url}/`, Buffer.from('{}')));
    expect(await text(answer)).toBe('until the end');
  });

  it('fails an exchange that receives nothing within the idle timeout', async () => {
    const up = await rawServer(() => {});
    await expect(client({ idleTimeoutMs: 50 }).send(post(`${up.url}/`, Buffer.from('{}')))).rejects.toThrow(
      'No answer for 50 ms; the request was abandoned.',
    );
  });

  it('refuses a header value that would split the request, and sends nothing', async () => {
    const up = await server();
    const c = client();
    await expect(c.send(post(up.url, Buffer.from('{}'), { 'x-a': 'b\r\nx-injected: 1' }))).rejects.toThrow(
      'The x-a header holds a character HTTP does not allow.',
    );
    await expect(c.send({ ...post(up.url), method: 'GET /evil' })).rejects.toThrow(/is not an HTTP token/);
    expect(await text(await c.send(post(up.url, Buffer.from('{}'))))).toBe('ok');
    expect(up.seen).toHaveLength(1);
  });

  it('fails with what was wrong when the upstream breaks HTTP', async () => {
    const up = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n'),
    );
    await expect(client().send(post(`${up.url}/`, Buffer.from('{}')))).rejects.toThrow(
      'The upstream sent two different Content-Length headers.',
    );
  });

  it('fails the body, not the process, when the connection drops mid-answer', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf');
      setTimeout(() => socket.destroy(), 20);
    });
    const answer = await client().send(post(`${up.url}/`, Buffer.from('{}')));
    await expect(text(answer)).rejects.toThrow('The connection closed before the answer ended.');
    expect(answer.body.complete).toBe(false);
  });

  it('reaches an HTTPS upstream whose certificate it is told to trust, and refuses one it is not', async () => {
    const up = await server(undefined, () => createHttpsServer({ cert, key }) as unknown as Server);
    const url = up.url.replace('http:', 'https:');
    const trusting = client({ ca: cert });
    for (let i = 0; i < 2; i++)
      expect(await text(await trusting.send(post(url, Buffer.from('{}'))))).toBe('ok');
    expect(up.connections()).toBe(1);
    await expect(client().send(post(url, Buffer.from('{}')))).rejects.toThrow(/self.signed|certificate/i);
  });
});
