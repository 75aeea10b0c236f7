/**
 * The gateway's way upstream: one HTTP exchange per attempt over keep-alive pools (`Http1Client`, an
 * HTTP/1.1 client of our own on `node:net` and `node:tls`), the answer's body handed back as a stream so
 * that it reaches the client as it arrives.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Http1Client, type MessageBody } from '../protocol/http1/client.js';

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
  body: MessageBody;
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
  const client = new Http1Client(options);
  return { send: (request) => client.send(request), close: () => client.close() };
}

/** Reads a whole (small) body as text; at most `maxBytes` are kept. Rejects when the body is cut. */
export function readText(body: MessageBody, maxBytes = 1 << 20): Promise<string> {
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
      if (!body.complete) reject(new Error('The connection closed before the answer ended.'));
    });
  });
}
