/** Offline checks of the Lua scripts: pinned hashes, headers that name what the body uses. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCRIPT_SHA1 } from './hashes.js';
import { SCRIPTS } from './scripts.js';

const dir = new URL('./lua/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.lua'));

describe('Lua scripts', () => {
  it('pins every script in lua/ by the SHA1 of its source as sent, and pins nothing else', () => {
    expect(files.map((f) => f.slice(0, -4)).sort()).toEqual(Object.keys(SCRIPT_SHA1).sort());
    for (const file of files) {
      const name = file.slice(0, -4) as keyof typeof SCRIPT_SHA1;
      const sha1 = createHash('sha1').update(SCRIPTS[name].source).digest('hex');
      expect(SCRIPT_SHA1[name], `${file} changed: set SCRIPT_SHA1.${name} in hashes.ts to '${sha1}'`).toBe(
        sha1,
      );
      expect(SCRIPTS[name].sha1).toBe(sha1);
    }
  });

  it('sends each script with its includes in place', () => {
    for (const script of Object.values(SCRIPTS)) expect(script.source).not.toMatch(/^--- @include/m);
    expect(SCRIPTS.raise.source).toContain('local function drained(');
  });

  it('names every KEYS and ARGV the body reads, and the return value, in the header', () => {
    for (const file of files) {
      const text = readFileSync(new URL(file, dir), 'utf8');
      const lines = text.split('\n');
      const header = lines.slice(
        0,
        lines.findIndex((l) => !l.startsWith('--')),
      );
      const body = lines.slice(header.length).join('\n');
      expect(
        header.some((l) => l.startsWith('-- Returns ')),
        `${file}: a "-- Returns" line`,
      ).toBe(true);
      for (const [, kind, index] of body.matchAll(/\b(KEYS|ARGV)\[(\d+)\]/g)) {
        const documented = header.some((l) => l.startsWith(`-- ${kind}[${index}] `));
        expect(documented, `${file}: a "-- ${kind}[${index}]" header line`).toBe(true);
      }
    }
  });
});
