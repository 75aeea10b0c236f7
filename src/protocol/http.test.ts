import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { httpTransport } from './http.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (signal = new AbortController().signal) => ({
  headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
  body: '{"a":"é"}',
  signal,
});

describe('httpTransport', () => {
  it('posts the body with its length and reads the whole answer, status and headers', async () => {
    let seen = '';
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen = `${req.method} ${req.url} ${req.headers['content-length']} ${req.headers['authorization']} ${body}`;
        res.writeHead(201, { 'x-request-id': 'req_1' });
        res.end('{"ok":true}');
      });
    });
    const send = httpTransport({ maxSockets: 4 });
    const answer = await send(`${url}/v1/chat/completions`, post());
    send.close();
    expect(seen).toBe('POST /v1/chat/completions 10 Bearer k {"a":"é"}');
    expect(answer).toMatchObject({ status: 201, text: '{"ok":true}', headers: { 'x-request-id': 'req_1' } });
  });

  it('decompresses gzip answers', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync('{"zipped":1}'));
    });
    const send = httpTransport({ maxSockets: 1 });
    expect((await send(url, post())).text).toBe('{"zipped":1}');
    send.close();
  });

  it('rejects an answer cut mid-body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const send = httpTransport({ maxSockets: 1 });
    await expect(send(url, post())).rejects.toThrow();
    send.close();
  });

  it('stops at once when the signal aborts, and after the idle timeout', async () => {
    const url = await serve(() => {
      // Never answers.
    });
    const send = httpTransport({ maxSockets: 2, idleTimeoutMs: 100 });
    const controller = new AbortController();
    const pending = send(url, post(controller.signal));
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toThrow();
    await expect(send(url, post())).rejects.toThrow(/No answer for 0 s/);
    send.close();
  });
});
