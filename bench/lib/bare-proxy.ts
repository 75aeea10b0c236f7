/**
 * The floor a gateway on Sluice's HTTP stack can reach: the gateway's own server (`Http1Server`) that
 * reads the request body, sends it upstream through the gateway's own upstream client
 * (`src/serve/upstream.ts`: keep-alive pools of `Http1Client`) and pipes the answer back. No engine, no
 * routing rules, no records. With `--stack node:http` it is `node:http` both ways instead (its server,
 * and its client through `node-upstream.ts`), as the gateway was before.
 *
 *   node --import tsx bench/lib/bare-proxy.ts <upstream origin> [--stack node:http]
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (port 0: any free one).
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { Http1Server, type IncomingRequest, type OutgoingAnswer } from '../../src/protocol/http1/server.js';
import { upstreamClient } from '../../src/serve/upstream.js';
import { nodeUpstreamClient } from './node-upstream.js';

const upstream = process.argv[2];
if (!upstream || !/^http:\/\//.test(upstream)) {
  process.stderr.write('usage: bare-proxy.ts <upstream origin, like http://127.0.0.1:8080>\n');
  process.exit(2);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);
const nodeStack = process.argv[3] === '--stack' && process.argv[4] === 'node:http';
const client = nodeStack ? nodeUpstreamClient() : upstreamClient();

function forward(req: IncomingMessage | IncomingRequest, res: ServerResponse | OutgoingAnswer): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const headers: OutgoingHttpHeaders = {};
    for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name];
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    client
      .send({
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', upstream),
        headers,
        body: Buffer.concat(chunks),
        signal: controller.signal,
      })
      .then(
        (answer) => {
          const out: OutgoingHttpHeaders = {};
          for (const name in answer.headers)
            if (!HOP_BY_HOP.has(name) || name === 'content-length') out[name] = answer.headers[name];
          res.writeHead(answer.status, out);
          answer.body.pipe(res);
        },
        () => {
          res.writeHead(502);
          res.end();
        },
      );
  });
}

const nodeServer = createServer({ keepAliveTimeout: 65_000 }, forward);
const own = nodeStack
  ? undefined
  : new Http1Server({ takes: () => true, handler: forward, fallback: nodeServer });
const server: Server = own ? own.net : nodeServer;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  (own ?? nodeServer).closeAllConnections();
  server.close(() => {
    client.close();
    process.exit(0);
  });
});
