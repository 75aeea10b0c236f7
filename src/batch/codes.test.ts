import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../engine/errors.js';
import { BATCH_ERROR_CODES, resumeActionOf } from './codes.js';

describe('batch error codes', () => {
  const docs = readFileSync(new URL('../../docs/batch.md', import.meta.url), 'utf8');
  const table = docs.slice(docs.indexOf('### Error codes'), docs.indexOf('### A quota error'));

  it('docs/batch.md lists every code with what --resume does with it', () => {
    for (const [code, action] of Object.entries(BATCH_ERROR_CODES)) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      const expected = { revalidate: 'checks the line again', rerun: 'sends it', keep: 'keeps it' }[action];
      expect(row!.split('|').at(-2)!.trim(), code).toMatch(new RegExp(`^${expected}`));
    }
  });

  it('covers every engine error code, and keeps unknown codes', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(BATCH_ERROR_CODES).toHaveProperty(code);
    expect(resumeActionOf('something_new')).toBe('keep');
  });
});
