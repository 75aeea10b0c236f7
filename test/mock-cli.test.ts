/**
 * `sluice mock` as a process: the built CLI (`npm run build` first; `npm test` does).
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

type Child = ChildProcessByStdio<null, Readable, Readable>;
const children: Child[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts the CLI and resolves with its first stdout line. */
function launch(args: string[]): Promise<{ child: Child; firstLine: string }> {
  const child = spawn(process.execPath, [CLI, 'mock', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const newline = out.indexOf('\n');
      if (newline !== -1) resolve({ child, firstLine: out.slice(0, newline) });
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${err}`)));
  });
}

function exited(child: Child): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('sluice mock', () => {
  it('prints "listening on http://HOST:PORT" first, serves, and exits 0 on SIGTERM', async () => {
    const { child, firstLine } = await launch(['--port', '0', '--rpm', '1', '--seed', '1']);
    expect(firstLine).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    const base = `${firstLine.slice('listening on '.length)}/v1`;
    const ask = () =>
      fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-cli' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect((await ask()).status).toBe(200);
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect((await refused.json()).error.message).toContain(
      'on requests per min (RPM): Limit 1, Used 1, Requested 1.',
    );
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('maps flags onto the emulator: --keys, --no-retry-after-ms, --flavor', async () => {
    const { child, firstLine } = await launch([
      '--keys',
      'a, b',
      '--rpm',
      '1',
      '--no-retry-after-ms',
      '--flavor',
      'azure',
    ]);
    const origin = firstLine.slice('listening on '.length);
    const ask = (key: string) =>
      fetch(`${origin}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21`, {
        method: 'POST',
        headers: { 'api-key': key },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
    expect((await ask('c')).status).toBe(401);
    expect((await ask('b')).status).toBe(200);
    const refused = await ask('b');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.headers.get('retry-after-ms')).toBeNull();
    expect((await refused.json()).error.code).toBe('429');
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('exits 0 on SIGINT', async () => {
    const { child } = await launch(['--port', '0', '--flavor', 'anthropic', '--itpm', '1000']);
    child.kill('SIGINT');
    expect(await exited(child)).toBe(0);
  });

  it.each([
    [['--rpm', 'lots'], 'error: --rpm: expected a whole number from 0 up, got "lots"'],
    [
      ['--error-rate', '1.5'],
      'error: --error-rate: expected a probability from 0 to 1, like 0.05, got "1.5"',
    ],
    [['--flavor', 'gemini'], 'error: --flavor: expected one of openai, azure, anthropic, got "gemini"'],
    [
      ['--rpm', '30', '--burst-seconds', '1'],
      'error: --rpm: 30 requests per minute with a burst of 1s holds less than one request; raise --burst-seconds to at least 2',
    ],
    [['--otpm', '100'], 'error: --otpm: output-token limits exist only with the anthropic flavor'],
    [['--burst-seconds', '0'], 'error: --burst-seconds: expected a number above 0, got "0"'],
    [['--port', '70000'], 'error: --port: expected a port from 0 to 65535, got "70000"'],
    [['--keys', ' , '], 'error: --keys: expected a comma-separated list of API keys, got " , "'],
    [['--no-such-flag'], "unknown option '--no-such-flag'"],
  ])('rejects %j with exit 2 and a message naming the flag', (args, message) => {
    const result = spawnSync(process.execPath, [CLI, 'mock', ...args], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('documents every flag in --help', () => {
    const result = spawnSync(process.execPath, [CLI, 'mock', '--help'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    for (const flag of [
      '--port',
      '--host',
      '--flavor',
      '--rpm',
      '--tpm',
      '--rpd',
      '--tpd',
      '--itpm',
      '--otpm',
      '--burst-seconds',
      '--default-max-tokens',
      '--max-generated-tokens',
      '--settle',
      '--count-rejected',
      '--quota-tokens',
      '--quota-requests',
      '--slow-down-factor',
      '--slow-down-min',
      '--no-retry-after',
      '--no-retry-after-ms',
      '--latency-ms',
      '--ms-per-token',
      '--error-rate',
      '--reset-rate',
      '--stream-cut-rate',
      '--keys',
      '--seed',
      '--organization',
    ]) {
      expect(result.stdout).toContain(`${flag} `);
    }
  });

  it('says clearly when the port is taken, exit 1', async () => {
    const { child, firstLine } = await launch(['--port', '0']);
    const port = firstLine.split(':').at(-1)!;
    const result = spawnSync(process.execPath, [CLI, 'mock', '--port', port], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `error: port ${port} is already in use on 127.0.0.1; pick another with --port, or --port 0 for any free one\n`,
    );
    child.kill('SIGTERM');
    await exited(child);
  });
});
