/**
 * docs/batch.md's flag table is checked against the table the command line reads (BATCH_FLAGS): every
 * flag listed once with its default, and nothing else.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BATCH_FLAGS } from '../src/cli/batch.js';
import { describeOptions } from '../src/formats/options.js';

const DOC = readFileSync(new URL('../docs/batch.md', import.meta.url), 'utf8');

function flagRows(): { usage: string; default: string }[] {
  const start = DOC.indexOf('\n## Flags\n');
  expect(start, 'docs/batch.md has no "## Flags" section').toBeGreaterThan(-1);
  const section = DOC.slice(start + 10);
  const end = section.search(/\n## /);
  return (end === -1 ? section : section.slice(0, end))
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map((line) => {
      const cells = line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim().replaceAll('`', ''));
      return { usage: cells[0]!, default: cells[1]! };
    });
}

describe('docs/batch.md flags', () => {
  it('lists every flag of sluice batch once, with its default, and nothing else', () => {
    const expected = describeOptions(BATCH_FLAGS).map((o) => ({ usage: o.usage!, default: o.default }));
    expect(flagRows()).toEqual(expected);
  });
});
