/**
 * `sluice serve` as a process: what it says at start, SIGTERM draining queued requests, SIGHUP reloading
 * its config, and clear refusals of bad flags and config files.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { sha256 } from '../src/serve/keys.js';
import { metric } from './support/observe.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

interface Serve {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<number | null>;
}

let mock: MockServer | undefined;
let serve: Serve | undefined;
afterEach(async () => {
  serve?.child.kill('SIGKILL');
  await mock?.close();
  mock = undefined;
  serve = undefined;
});

async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], ...env },
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`sluice serve exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr, stdout: () => stdout, exit };
}

const chat = (i: number) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 5 });

const post = (url: string, body: string, key = 'sk-test') =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });

describe('sluice serve', () => {
  it('starts against the emulator when given nothing, and says so plainly', async () => {
    serve = await startServe([]);
    expect(serve.stderr()).toContain('no upstream given and no OPENAI_API_KEY set');
    expect(serve.stderr()).toContain('--upstream');
    const res = await post(serve.url, chat(0));
    expect(res.status).toBe(200);
  });

  it('SIGTERM with queued requests: all of them finish, then it exits 0', async () => {
    // 120 RPM with a 1 s burst on the emulator: 2 at once, then one every 0.5 s.
    mock = await startMock({ rpm: 120, burstSeconds: 1 });
    serve = await startServe(['--upstream', mock.url, '--rpm', '120', '--grace', '20s']);
    const answers = Array.from({ length: 6 }, (_, i) => post(serve!.url, chat(i)));
    await untilHeld(serve, mock, 6);
    serve.child.kill('SIGTERM');
    const statuses = await Promise.all(answers.map(async (a) => (await a).status));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await serve.exit).toBe(0);
    expect(serve.stderr()).toContain('every request finished');
    expect(mock.stats().rejected.total).toBe(0);
  });

  it('SIGTERM with a grace shorter than the queue: what cannot finish gets 503 with Retry-After', async () => {
    mock = await startMock({ rpm: 60, burstSeconds: 1 });
    serve = await startServe(['--upstream', mock.url, '--rpm', '60', '--grace', '300ms']);
    const answers = Array.from({ length: 4 }, (_, i) => post(serve!.url, chat(i)));
    await untilHeld(serve, mock, 4);
    serve.child.kill('SIGTERM');
    const results = await Promise.all(
      answers.map(async (a) => {
        const r = await a;
        return { status: r.status, retry: r.headers.get('retry-after') };
      }),
    );
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r).toEqual({ status: 503, retry: '1' });
    expect(results.some((r) => r.status === 503)).toBe(true);
    expect(await serve.exit).toBe(0);
  });

  it('writes one JSON line per request, with no key and no prompt in it', async () => {
    mock = await startMock();
    serve = await startServe(['--upstream', mock.url]);
    await (await post(serve.url, chat(42), 'sk-visible-secret-key')).text();
    await until(() => serve!.stdout().includes('\n'));
    const line = JSON.parse(serve.stdout().split('\n')[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      outcome: 'success',
      status: 200,
      attempts: 1,
    });
    expect(String(line['lane'])).toMatch(/\|[0-9a-f]{16}\|gpt-4o-mini$/);
    expect(serve.stdout()).not.toContain('sk-visible-secret-key');
    expect(serve.stdout()).not.toContain('q42');
  });

  it('reloads its config on SIGHUP without dropping requests: a new key works, a removed one is refused', async () => {
    mock = await startMock();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-serve-'));
    const file = join(dir, 'sluice.yaml');
    const keyFile = (name: string, key: string) =>
      `keys:\n  - name: ${name}\n    key_sha256: ${sha256(key)}\n    upstream_key_env: UPSTREAM\n`;
    await writeFile(file, keyFile('old', 'vk-old'));
    serve = await startServe(['--upstream', mock.url, '--config', file], { UPSTREAM: 'sk-upstream' });
    expect((await post(serve.url, chat(1), 'vk-old')).status).toBe(200);
    await writeFile(file, keyFile('new', 'vk-new'));
    serve.child.kill('SIGHUP');
    await until(() => serve!.stderr().includes('reloaded'));
    expect((await post(serve.url, chat(2), 'vk-new')).status).toBe(200);
    expect((await post(serve.url, chat(3), 'vk-old')).status).toBe(401);
    // A broken file keeps the running config.
    await writeFile(file, 'keys: [');
    serve.child.kill('SIGHUP');
    await until(() => serve!.stderr().includes('kept the running config'));
    expect((await post(serve.url, chat(4), 'vk-new')).status).toBe(200);
  });

  it.each([
    [['--upstream', 'ftp://example.com'], /not an http\(s\) URL/],
    [['--port', 'x'], /--port/],
    [['--max-wait', 'soon'], /duration/],
    [['--flavor', 'gemini'], /openai, azure, anthropic/],
  ])('refuses %j with exit 2 and a message naming the problem', (args, pattern) => {
    const result = spawnSync(process.execPath, [CLI, 'serve', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'], OPENAI_API_KEY: 'sk-x' },
      timeout: 10_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(pattern);
  });

  it('refuses a config file with a bad field, naming the file, line and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-serve-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      `limits:\n  rpm: 500\nkeys:\n  - name: app\n    key_sha256: ${'a'.repeat(64)}\n    upstream_key_env: UP\n    priority: urgent\n`,
    );
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', file], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'], UP: 'k' },
      timeout: 10_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      `${file}:7:15: keys[0].priority: expected one of interactive, default, batch; got "urgent".`,
    );
  });
});

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(await check()).toBe(true);
}

/**
 * Waits until the gateway holds all `n` requests (queued in it, or already at the emulator). SIGTERM
 * stops accepting connections: a request still in the listen backlog, or not yet read off its
 * connection, on a busy machine, would be refused rather than drained.
 */
async function untilHeld(gateway: Serve, upstream: MockServer, n: number): Promise<void> {
  await until(async () => {
    const queued = metric(await (await fetch(`${gateway.url}/metrics`)).text(), 'sluice_lane_queued') || 0;
    return upstream.stats().received + queued >= n;
  });
}

describe('sluice hash-key', () => {
  it('prints the SHA-256 of the key on stdin, for key_sha256', () => {
    const result = spawnSync(process.execPath, [CLI, 'hash-key'], { input: 'vk-app\n', encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${sha256('vk-app')}\n`);
  });

  it('refuses an empty stdin with exit 2', () => {
    const result = spawnSync(process.execPath, [CLI, 'hash-key'], { input: '', encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no key on standard input');
  });
});

describe('sluice serve --redis', () => {
  it('shares one lane between two gateways: together they stay under the emulator’s limit', async () => {
    mock = await startMock({ rpm: 120, burstSeconds: 1 });
    const prefix = `sluice-test-serve-${process.pid}-${Date.now()}:`;
    const args = ['--upstream', mock.url, '--redis', 'redis://127.0.0.1:6379', '--redis-prefix', prefix];
    serve = await startServe(args);
    const second = await startServe(args);
    try {
      // 2 at once, then 2 per second across both gateways: 8 requests split between them.
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => post(i % 2 ? second.url : serve!.url, chat(i))),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
      expect(mock.stats().rejected.total).toBe(0);
    } finally {
      second.child.kill('SIGKILL');
    }
  });

  it('refuses a --redis value that is not a redis:// URL', () => {
    const result = spawnSync(
      process.execPath,
      [CLI, 'serve', '--upstream', 'http://127.0.0.1:9/v1', '--redis', 'localhost:6379'],
      {
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/redis:\/\//);
  });
});
