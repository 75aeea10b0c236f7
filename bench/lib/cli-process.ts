/**
 * The benchmarks' child processes: `sluice mock` and `sluice batch` run as the built CLI (`dist/`), so
 * that neither shares an event loop with the load generator; and a run's peak memory, read inside the
 * process at exit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first). */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface Mock {
  url: string;
  stats(): Promise<{ received: number; admitted: number; rejected: { total: number } }>;
  close(): void;
}

/** Starts `sluice mock` with `flags` as a child process and reads its URL from the first line. */
export function startMockProcess(flags: readonly string[]): Promise<Mock> {
  const child = spawn(process.execPath, [CLI, 'mock', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  let closing = false;
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        const origin = m[1]!;
        resolve({
          url: `${origin}/v1`,
          stats: async () => (await fetch(`${origin}/__mock/stats`)).json() as never,
          close: () => {
            closing = true;
            child.kill('SIGTERM');
          },
        });
      }
    });
    child.once('exit', (code, signal) => {
      if (!closing) process.stderr.write(`sluice mock exited on its own (${code ?? signal})\n`);
      reject(new Error(`sluice mock exited with ${code ?? signal}`));
    });
  });
}

/** Runs the built CLI with `argv` and a bench API key; resolves with its exit code and stderr. */
export function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OPENAI_API_KEY: 'sk-bench', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

/** Peak RSS (KB) of a CLI run, read inside the process at exit. */
export async function peakRss(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ kb: number; seconds: number; code: number | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-rss-'));
  const hook = join(dir, 'rss.cjs');
  // The high-water mark of the process's own memory map (Linux). Not `resourceUsage().maxRSS`: Linux
  // carries ru_maxrss across fork and exec, so it would include this benchmark's own footprint.
  writeFileSync(
    hook,
    [
      "process.on('exit', () => {",
      '  let kb;',
      "  try { kb = Number(/VmHWM:\\s+(\\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]); }",
      '  catch { kb = process.resourceUsage().maxRSS; }',
      "  process.stderr.write('\\nmaxRSS ' + kb + '\\n');",
      '});',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--require', hook, CLI, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OPENAI_API_KEY: 'sk-bench', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const start = performance.now();
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  rmSync(dir, { recursive: true, force: true });
  const kb = Number(/maxRSS (\d+)/.exec(stderr)?.[1] ?? NaN);
  return { kb, seconds: (performance.now() - start) / 1000, code };
}
