/** The `sluice` command itself (needs `npm run build`, which `npm test` runs first). */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const main = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

describe('sluice', () => {
  it('is executable as built: npx and the package bin run the file itself', () => {
    expect(statSync(main).mode & 0o111).toBe(0o111);
    const out = spawnSync(main, ['--version'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
  });

  it('prints the package version', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const out = run('--version');
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe(version);
  });

  it('lists its commands in --help', () => {
    const out = run('--help');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/batch \[options\] <input>/);
    expect(out.stdout).toMatch(/mock \[options\]/);
  });

  it('exits 2 with a pointer to --help on an unknown command, without a stack trace', () => {
    const out = run('frobnicate');
    expect(out.status).toBe(2);
    expect(out.stderr).toContain("unknown command 'frobnicate'");
    expect(out.stderr).toContain('--help');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});
