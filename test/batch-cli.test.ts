/**
 * `sluice batch` as a process: the built CLI (`npm run build` first; `npm test` does), killed and resumed
 * against an emulator started here, behind a proxy that counts what reached it per line.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock } from '../src/mock/index.js';
import { idCounts, readJsonl, startCountingProxy, tempDir, writeInput } from './support/batch.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ENV = { ...process.env, OPENAI_API_KEY: 'sk-test-cli', OPENAI_BASE_URL: '' };

type Child = ChildProcessByStdio<null, Readable, Readable>;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

function launch(args: string[]): { child: Child; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'batch', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  });
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  child.stdout.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

/** Runs the CLI to its end without blocking this process (which hosts the emulator). */
async function finish(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = launch(args);
  const code = await p.exit;
  return { code, stderr: p.stderr() };
}

/** Runs the CLI synchronously: only for runs that need no server in this process. */
function run(args: string[], env: NodeJS.ProcessEnv = ENV) {
  const r = spawnSync(process.execPath, [CLI, 'batch', ...args], { encoding: 'utf8', env, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lineCount(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
}

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sluice batch (CLI)', () => {
  it('after kill -9 mid-run, --resume finishes every line once and never resends a finished one', async () => {
    const mock = await startMock({ rpm: 6000, tpm: 0, burstSeconds: 1 });
    const proxy = await startCountingProxy(mock.url);
    cleanup.push(
      () => mock.close(),
      () => proxy.close(),
    );
    const dir = tempDir();
    const input = writeInput(dir, 500);
    const output = join(dir, 'out.jsonl');
    const errors = `${output}.errors.jsonl`;

    const first = launch([input, '--output', output, '--base-url', proxy.url]);
    await until(() => lineCount(output) >= 150);
    first.child.kill('SIGKILL');
    await first.exit;

    const finished = new Set(idCounts(output, errors).keys());
    expect(finished.size).toBeGreaterThanOrEqual(150);
    expect(finished.size).toBeLessThan(500);
    const before = new Map(proxy.counts);

    const second = await finish([input, '--output', output, '--base-url', proxy.url, '--resume']);
    expect(second.stderr).toMatch(/Done in/);
    expect(second.code).toBe(0);

    const counts = idCounts(output, errors);
    expect(counts.size).toBe(500);
    for (const [id, n] of counts) expect(n, id).toBe(1);
    expect(readJsonl(errors)).toHaveLength(0);
    // The server saw no finished request again: the resumed run sent none of them.
    for (const id of finished) expect(proxy.counts.get(id), id).toBe(before.get(id));
    // At most the requests in flight at the kill were sent twice.
    const twice = [...proxy.counts.values()].filter((n) => n > 1).length;
    expect(twice).toBeLessThanOrEqual(256);
  });

  it('on Ctrl-C stops, flushes and prints the command that resumes', async () => {
    const mock = await startMock({ rpm: 3000, tpm: 0, burstSeconds: 1 });
    cleanup.push(() => mock.close());
    const dir = tempDir();
    const input = writeInput(dir, 300);
    const output = join(dir, 'out.jsonl');
    const p = launch([input, '--output', output, '--base-url', mock.url, '--rpm', '3000']);
    await until(() => lineCount(output) >= 60);
    p.child.kill('SIGINT');
    expect(await p.exit).toBe(130);
    expect(p.stderr()).toMatch(/Stopping: no new requests/);
    expect(p.stderr()).toMatch(/Interrupted after/);
    const resume = /continue with:\n\s+(.+)\n/.exec(p.stderr())?.[1];
    expect(resume).toContain('--resume');
    expect(resume).toContain(`--output ${output}`);
    expect(mock.stats().admitted).toBe(lineCount(output));

    const again = await finish([input, '--output', output, '--base-url', mock.url, '--resume']);
    expect(again.code).toBe(0);
    expect(idCounts(output).size).toBe(300);
    expect(mock.stats().admitted).toBe(300);
  });

  it('exits 2 before sending anything on bad flags, unreadable input, an existing output or a --redis that is no redis:// URL', () => {
    const dir = tempDir();
    const input = writeInput(dir, 2);
    const output = join(dir, 'out.jsonl');
    const base = ['--base-url', 'http://127.0.0.1:9/v1'];

    const missing = run([join(dir, 'nope.jsonl'), '--output', output, ...base]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Cannot read the input file .*nope\.jsonl: ENOENT/);

    expect(run([input, ...base]).stderr).toMatch(/--output <file> is required/);
    expect(run([input, '--output', output, '--rpm', 'lots', ...base]).code).toBe(2);
    expect(run([input, '--output', output, '--max-in-flight', '0', ...base]).code).toBe(2);

    const redis = run([input, '--output', output, '--redis', 'localhost:6379', ...base]);
    expect(redis.code).toBe(2);
    expect(redis.stderr).toMatch(/--redis must be a redis:\/\/ or rediss:\/\/ URL/);

    writeFileSync(output, '{"custom_id":"r-1"}\n');
    const exists = run([input, '--output', output, ...base]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/already exists and is not empty.*--resume/);

    const noKey = run([input, '--output', join(dir, 'o2.jsonl')], { ...ENV, OPENAI_API_KEY: '' });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/set OPENAI_API_KEY/);
    const noVar = run([input, '--output', join(dir, 'o3.jsonl'), '--api-key-env', 'SLUICE_TEST_NO_SUCH_VAR']);
    expect(noVar.code).toBe(2);
    expect(noVar.stderr).toMatch(/SLUICE_TEST_NO_SUCH_VAR is not set/);
  });

  it('--dry-run counts, validates and estimates without sending or writing', () => {
    const dir = tempDir();
    const input = writeInput(dir, 100, 'in.jsonl', 100);
    writeFileSync(input, `${readFileSync(input, 'utf8')}not json\n`);
    const output = join(dir, 'out.jsonl');
    const r = run([input, '--output', output, '--dry-run', '--rpm', '60', '--tpm', '60000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 101: not JSON/);
    expect(r.stdout).toMatch(/lines\s+101 \(100 valid, 1 bad\)/);
    expect(r.stdout).toMatch(/to send\s+100 requests/);
    // "question r-1" is 3 prompt tokens (12 characters ÷ 4), r-10 … r-100 are 4; each reserves 100 more.
    // 100 requests at 60 RPM is the binding limit: 1m40s.
    expect(r.stdout).toMatch(/~10,391 reserved at admission \(prompt ~391 \+ completion up to 10,000\)/);
    expect(r.stdout).toMatch(/minimum time\s+1m40s at 60 RPM and 60,000 TPM/);
    expect(existsSync(output)).toBe(false);
  });

  it('--help teaches with examples', () => {
    const r = spawnSync(process.execPath, [CLI, 'batch', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const flag of [
      '--output',
      '--errors',
      '--base-url',
      '--api-key-env',
      '--rpm',
      '--tpm',
      '--max-in-flight',
      '--resume',
      '--retry-failed',
      '--dry-run',
      '--redis',
      '--quiet',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/Examples:[\s\S]*--base-url mock[\s\S]*--dry-run[\s\S]*--resume/);
  });

  it('--base-url mock runs the built-in emulator in process, says so, and prints a summary', () => {
    const dir = tempDir();
    const input = writeInput(dir, 20);
    const output = join(dir, 'out.jsonl');
    const r = run([input, '--output', output, '--base-url', 'mock'], { ...ENV, OPENAI_API_KEY: '' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /--base-url mock: using the built-in emulator at http:\/\/127\.0\.0\.1:\d+\/v1 — 500 RPM/,
    );
    expect(r.stderr).toMatch(/Done in [\d.]+s\.\n\s+lines\s+20 succeeded, 0 failed — of 20 in the file/);
    expect(r.stderr).toMatch(/rate\s+[\d,]+ requests\/min of 500/);
    expect(readJsonl(output)).toHaveLength(20);
  });
});
