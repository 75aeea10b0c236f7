/**
 * `sluice limits` as a process: the built CLI (`npm run build` first; `npm test` does), against the
 * emulator in this process or the one it starts itself (`--base-url mock`).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sluice limits …` with only the given variables (and PATH) in its environment. */
function limits(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn(process.execPath, [CLI, 'limits', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('sluice limits', () => {
  it.each([
    ['openai', ['RPM', 'TPM']],
    ['azure', ['RPM', 'TPM']],
    ['anthropic', ['RPM', 'ITPM', 'OTPM']],
  ])('--base-url mock --flavor %s prints the limits, what remains and when full', async (flavor, names) => {
    const args = ['--base-url', 'mock', '--flavor', flavor];
    if (flavor === 'azure') args.push('--model', 'prod-4o');
    const r = await limits(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('built-in emulator');
    expect(r.stdout).toMatch(/answered 200 in \d+ ms/);
    expect(r.stdout).toContain('full again in');
    for (const name of names)
      expect(r.stdout).toMatch(new RegExp(`^  ${name} +[\\d,]+ +[\\d,]+ +\\S+$`, 'm'));
  });

  it('sends exactly one request per model, and --json says it all without the key', async () => {
    mock = await startMock({ rpm: 100, tpm: 50_000 });
    const r = await limits(
      ['--base-url', mock.url, '--model', 'gpt-4o-mini', '--model', 'gpt-4.1,gpt-4o-mini', '--json'],
      {
        OPENAI_API_KEY: 'sk-very-secret-key-0123456789',
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('very-secret');
    const report = JSON.parse(r.stdout) as {
      flavor: string;
      models: { model: string; limits: { name: string; limit: number }[] }[];
    };
    expect(report.flavor).toBe('openai');
    expect(report.models.map((m) => m.model)).toEqual(['gpt-4o-mini', 'gpt-4.1']);
    expect(report.models[0]!.limits).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'RPM', limit: 100 }),
        expect.objectContaining({ name: 'TPM', limit: 50_000 }),
      ]),
    );
    expect(mock.stats().received).toBe(2);
  });

  it('tells a refused key plainly, naming the variable, exit 1', async () => {
    mock = await startMock({ keys: ['good'] });
    const r = await limits(['--base-url', mock.url, '--api-key-env', 'TEAM_KEY'], { TEAM_KEY: 'bad-key' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('problem: the key in TEAM_KEY was refused (401');
    expect(mock.stats().received).toBe(1);
  });

  it('tells an exhausted quota with what to do, exit 1', async () => {
    mock = await startMock({ quotaRequests: 0 });
    const r = await limits(['--base-url', mock.url], { OPENAI_API_KEY: 'sk-x' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('problem: the quota is exhausted (429');
    expect(r.stdout).toContain('billing');
  });

  it('reports a full limit without retrying it, exit 0', async () => {
    mock = await startMock({ rpm: 1, tpm: 0 });
    await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-x', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    const r = await limits(['--base-url', mock.url], { OPENAI_API_KEY: 'sk-x' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/note: a limit is full right now \(429\); the server asks to wait \d/);
    expect(mock.stats().received).toBe(2);
  });

  it.each([
    [[], {}, 'no API key: set OPENAI_API_KEY'],
    [['--flavor', 'azure'], { AZURE_OPENAI_API_KEY: 'k' }, 'no base URL'],
    [['--base-url', 'https://x.openai.azure.com'], { AZURE_OPENAI_API_KEY: 'k' }, 'name the deployment'],
    [['--base-url', 'localhost:8080/v1'], { OPENAI_API_KEY: 'k' }, 'has no scheme'],
    [['--flavor', 'gemini'], {}, '--flavor: expected one of openai, azure, anthropic'],
  ] as const)('refuses %j before sending anything, exit 2', async (args, env, message) => {
    const r = await limits([...args], { ...env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
