/** Helpers for `sluice batch` tests: input files, result files, and a proxy that counts requests per line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../src/engine/clock.js';

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
  /** The `user` of every request in the order the proxy received them. */
  order: string[];
  close(): Promise<void>;
}

export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  const order: string[] = [];
  const base = upstream.replace(/\/v1\/?$/, '');
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const user = (JSON.parse(body.toString('utf8')) as { user?: string }).user;
        if (user) {
          counts.set(user, (counts.get(user) ?? 0) + 1);
          order.push(user);
        }
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
    order,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The built CLI (`npm run build` first; `npm test` does). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The environment the CLI tests run with: a test key, no base URL from the machine. */
export const CLI_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  OPENAI_API_KEY: 'sk-test-cli',
  OPENAI_BASE_URL: '',
};

export interface CliRun {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts `sluice batch …` without blocking this process (which may host the servers it talks to).
 * `stdin`: text piped to the process (its stdin is closed after it).
 */
export function launchBatch(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {},
): CliRun {
  const child = spawn(process.execPath, [CLI, 'batch', ...args], {
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: options.env ?? CLI_ENV,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exit, stdout: () => out, stderr: () => err };
}

/** Runs `sluice batch …` to its end. */
export async function runBatchCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = launchBatch(args, options);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Waits until `check()` holds, polling (a generous bound: it only guards against a hang). */
export async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every file under `dir` with its content (for "the key is in no file" checks). */
export function filesIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isFile()) out.set(path, readFileSync(path, 'utf8'));
  }
  return out;
}

/**
 * A manual clock whose sleeps last whole milliseconds, as timers do. With sleeps resolved at fractional
 * times, a wait of a fraction of a microsecond (left over by floating-point bucket math at epoch-sized
 * times) can be absorbed into `now` and come due again at once, for ever; real timers never fire in
 * under a millisecond.
 */
export class TimerClock extends ManualClock {
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return super.sleep(Math.max(0, Math.ceil(ms)), signal);
  }
}
