/**
 * `sluice batch --dry-run` at the real limits: without --rpm/--tpm and with a key, one request per model
 * asks the server (the probe `sluice limits` uses); `--offline`, given limits or no key send nothing.
 * The built CLI (`npm run build` first; `npm test` does) against the emulator in this process.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { chatLine, tempDir } from './support/batch.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

/** 60 lines on gpt-4o-mini and 30 on gpt-4o, 20 max tokens each. */
function input(): string {
  const path = join(tempDir(), 'in.jsonl');
  const lines = [
    ...Array.from({ length: 60 }, (_, i) => chatLine(`a-${i}`, 20, 'gpt-4o-mini')),
    ...Array.from({ length: 30 }, (_, i) => chatLine(`b-${i}`, 20, 'gpt-4o')),
  ];
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function dryRun(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'batch', input(), '--dry-run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('sluice batch --dry-run with a key and no --rpm/--tpm', () => {
  it('asks each model once and gives the least time at the limits the server states', async () => {
    mock = await startMock({ rpm: 30, tpm: 100_000 });
    const r = await dryRun(['--base-url', mock.url], { OPENAI_API_KEY: 'sk-dry-run-secret-123456' });
    expect(r.code).toBe(0);
    expect(mock.stats().received).toBe(2);
    expect(r.stderr).toContain(
      `limits: asked ${mock.url} with one request per model (--offline sends nothing)`,
    );
    // 60 requests at 30 RPM: 2 minutes; 30 at 30 RPM: 1 minute.
    expect(r.stdout).toContain('gpt-4o-mini: 60 requests, ~');
    expect(r.stdout).toMatch(
      /gpt-4o-mini: 60 requests, ~[\d,]+ tokens, at least 2m00s at 30 RPM, 100,000 TPM/,
    );
    expect(r.stdout).toMatch(/minimum time +2m00s at each model's limits as the server stated them/);
    expect(r.stdout + r.stderr).not.toContain('dry-run-secret');
  });

  it('says which models stayed unknown and why (a refused key)', async () => {
    mock = await startMock({ keys: ['good'] });
    const r = await dryRun(['--base-url', mock.url], { OPENAI_API_KEY: 'bad' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('gpt-4o-mini: limits unknown — invalid key (401)');
    expect(r.stdout).not.toContain('at least');
  });

  it.each([
    ['--offline', ['--offline'], { OPENAI_API_KEY: 'sk-x' }, 'limits: --offline, nothing sent'],
    ['no key', [], {}, 'limits: no API key in OPENAI_API_KEY, so none were asked for'],
  ] as const)('%s: sends nothing', async (_name, args, env, said) => {
    mock = await startMock({});
    const r = await dryRun(['--base-url', mock.url, ...args], { ...env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(said);
    expect(mock.stats().received).toBe(0);
  });

  it('given --rpm: sends nothing and plans at it', async () => {
    mock = await startMock({});
    const r = await dryRun(['--base-url', mock.url, '--rpm', '60'], { OPENAI_API_KEY: 'sk-x' });
    expect(r.code).toBe(0);
    expect(mock.stats().received).toBe(0);
    expect(r.stdout).toMatch(/minimum time +1m00s at 60 RPM per model/);
  });
});
