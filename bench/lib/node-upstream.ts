/**
 * The gateway's way upstream as it was before `Http1Client`: `node:http`'s client over a keep-alive
 * agent. Kept for `bench:gateway`'s `node` path (the bare proxy on `node:http` both ways), to measure
 * what the gateway's own client saves.
 */
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import type { UpstreamAnswer, UpstreamClient, UpstreamRequest } from '../../src/serve/upstream.js';

export function nodeUpstreamClient(): UpstreamClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const send = (upstream: UpstreamRequest): Promise<UpstreamAnswer> =>
    new Promise<UpstreamAnswer>((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { ...upstream.headers };
      if (Buffer.isBuffer(upstream.body)) headers['content-length'] = String(upstream.body.length);
      const req = request(
        upstream.url,
        { method: upstream.method, agent, headers, signal: upstream.signal },
        (res) =>
          // IncomingMessage has what the bare proxy uses of a MessageBody (a Readable with `complete`).
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: res as unknown as UpstreamAnswer['body'],
          }),
      );
      req.on('error', reject);
      if (Buffer.isBuffer(upstream.body)) req.end(upstream.body);
      else req.end();
    });
  return { send, close: () => agent.destroy() };
}
