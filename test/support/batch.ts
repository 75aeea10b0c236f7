/** Helpers for `sluice batch` tests: input files, result files, and a proxy that counts requests per line. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-batch-'));
}

/** A chat request line whose body names its custom_id in `user`, so a proxy can tell lines apart. */
export function chatLine(id: string, maxTokens = 20, model = 'gpt-4o-mini'): string {
  return JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `question ${id}` }], max_tokens: maxTokens, user: id },
  });
}

/** Writes `count` chat lines (`r-1` … `r-count`) and returns the file's path. */
export function writeInput(dir: string, count: number, name = 'in.jsonl', maxTokens = 20): string {
  const path = join(dir, name);
  const lines = Array.from({ length: count }, (_, i) => chatLine(`r-${i + 1}`, maxTokens));
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

export interface ResultLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string | null; body: unknown } | null;
  error: { code: string; message: string } | null;
  line?: number | null;
}

/** Every parseable line of a JSONL file (an absent file is empty). */
export function readJsonl(path: string): ResultLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ResultLine);
}

/** How many times each custom_id appears across the files. */
export function idCounts(...paths: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const path of paths) {
    for (const line of readJsonl(path)) {
      const id = line.custom_id ?? '(null)';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * A pass-through proxy in front of an upstream that counts, per request body `user` (the custom_id in
 * these tests), how many requests reached the upstream.
 */
export interface CountingProxy {
  /** Base URL with `/v1`. */
  url: string;
  counts: Map<string, number>;
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  const base = upstream.replace(/\/v1\/?$/, '');
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const user = (JSON.parse(body.toString('utf8')) as { user?: string }).user;
        if (user) counts.set(user, (counts.get(user) ?? 0) + 1);
      } catch {
        // Not JSON: not counted.
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
      }
      fetch(`${base}${req.url ?? '/'}`, { method: req.method ?? 'POST', headers, body }).then(
        async (r) => {
          const text = Buffer.from(await r.arrayBuffer());
          const out: Record<string, string> = {};
          r.headers.forEach((v, k) => {
            if (
              ![
                'content-length',
                'connection',
                'keep-alive',
                'transfer-encoding',
                'content-encoding',
              ].includes(k)
            )
              out[k] = v;
          });
          res.writeHead(r.status, out);
          res.end(text);
        },
        () => res.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
