/**
 * HTTP plumbing of the gateway: the request and answer shapes it works with, which headers cross it in
 * each direction, reading a bounded body, relaying an upstream body to the client as it arrives, and
 * writing small JSON answers.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { WISH_HEADERS } from '../protocol/wishes.js';
import { AUTH_HEADERS } from './keys.js';
import type { UpstreamAnswer } from './upstream.js';

/**
 * A client's request as the gateway reads it: what `node:http`'s `IncomingMessage` and the gateway's own
 * server (`IncomingRequest`) both are.
 */
export type ClientRequest = Readable & {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
};

/** The answer to a client: what `node:http`'s `ServerResponse` and `OutgoingAnswer` both are. */
export type ClientAnswer = NodeJS.WritableStream & {
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  destroy(error?: Error): unknown;
};

/** Headers of one connection, not of the message: never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'host',
]);
/** Also not sent upstream: the length (the gateway sets its own) and `Expect` (the gateway answers `100 Continue` itself). */
const NOT_UPSTREAM: ReadonlySet<string> = new Set<string>([
  ...HOP_BY_HOP,
  'content-length',
  'expect',
  ...WISH_HEADERS,
]);

/**
 * The client's headers as they go upstream: without hop-by-hop and `x-sluice-*` headers; with a
 * virtual key, the client's credential is replaced by the upstream one.
 */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  auth: [string, string] | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (NOT_UPSTREAM.has(name)) continue;
    if (auth && (AUTH_HEADERS as readonly string[]).includes(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  if (auth) out[auth[0]] = auth[1];
  return out;
}

/** The upstream's headers as they go to the client, with Sluice's own added. */
export function clientHeaders(
  upstream: IncomingHttpHeaders,
  sluice: readonly [string, string][],
  closing: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  for (const [name, value] of sluice) out[name] = value;
  if (closing) out['connection'] = 'close';
  return out;
}

/** A case-insensitive getter over Node's (already lower-cased) request headers. */
export function headerGetter(headers: IncomingHttpHeaders): { get(name: string): string | null } {
  return {
    get(name) {
      const value = headers[name];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** Reads the whole body, or `undefined` once it exceeds `max` bytes (the rest is drained). */
export function readBody(req: ClientRequest, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size > max ? undefined : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** Copies an upstream body to the client as it arrives; a cut on either side ends both. */
export function relay(
  answer: UpstreamAnswer,
  res: ClientAnswer,
  onChunk?: (chunk: Buffer) => void,
): Promise<void> {
  return new Promise((resolve) => {
    const upstream = answer.body;
    if (onChunk) upstream.on('data', onChunk);
    upstream.on('error', () => res.destroy());
    upstream.on('close', () => {
      if (!upstream.complete) res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      resolve();
    });
    upstream.pipe(res);
  });
}

/** An OpenAI-shaped error body. */
export function errorBody(type: string, code: string, message: string): { error: Record<string, unknown> } {
  return { error: { message, type, param: null, code } };
}

export function writeJson(
  res: ClientAnswer,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  writeText(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

export function writeText(
  res: ClientAnswer,
  status: number,
  text: string,
  headers: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}
