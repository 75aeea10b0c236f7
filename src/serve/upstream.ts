/**
 * The gateway's way upstream: one HTTP exchange per attempt over keep-alive pools (`node:http` and
 * `node:https`), the answer's body handed back as a stream so that it reaches the client as it arrives.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface UpstreamRequest {
  method: string;
  url: URL;
  headers: OutgoingHttpHeaders;
  /** A buffered body (LLM calls, re-sent on retries), or the client's stream (everything else). */
  body: Buffer | Readable | undefined;
  signal: AbortSignal;
}

export interface UpstreamAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

export interface UpstreamClient {
  send(request: UpstreamRequest): Promise<UpstreamAnswer>;
  close(): void;
}

export interface UpstreamOptions {
  /** Connections per upstream origin; requests beyond wait for a free one. @default 1024 */
  maxSockets?: number;
  /** An exchange that receives nothing for this long fails (the engine retries it). @default 600000 */
  idleTimeoutMs?: number;
}

export function upstreamClient(options: UpstreamOptions = {}): UpstreamClient {
  const idle = options.idleTimeoutMs ?? 600_000;
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 1024 };
  const http = new HttpAgent(agentOptions);
  const https = new HttpsAgent(agentOptions);

  const send = (request: UpstreamRequest): Promise<UpstreamAnswer> =>
    new Promise<UpstreamAnswer>((resolve, reject) => {
      if (request.signal.aborted) return reject(request.signal.reason);
      const secure = request.url.protocol === 'https:';
      const headers = { ...request.headers };
      if (Buffer.isBuffer(request.body)) headers['content-length'] = String(request.body.length);
      const req = (secure ? httpsRequest : httpRequest)(
        request.url,
        { method: request.method, agent: secure ? https : http, headers, signal: request.signal },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.setTimeout(idle, () =>
        req.destroy(new Error(`No answer for ${Math.round(idle / 1000)} s; the request was abandoned.`)),
      );
      req.on('error', reject);
      if (request.body === undefined) req.end();
      else if (Buffer.isBuffer(request.body)) req.end(request.body);
      else request.body.pipe(req);
    });

  return {
    send,
    close: () => {
      http.destroy();
      https.destroy();
    },
  };
}

/** Reads a whole (small) body as text; at most `maxBytes` are kept. Rejects when the body is cut. */
export function readText(body: Readable, maxBytes = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      if (size < maxBytes) chunks.push(chunk);
      size += chunk.length;
    });
    body.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.on('error', reject);
    body.on('close', () => {
      if (!(body as IncomingMessage).complete)
        reject(new Error('The connection closed before the answer ended.'));
    });
  });
}
