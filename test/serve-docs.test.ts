/**
 * docs/serve.md's option table is checked against the table the command line reads (SERVE_FLAGS):
 * every flag listed once with its default, and nothing else.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVE_FLAGS } from '../src/cli/serve.js';
import { describeOptions } from '../src/formats/options.js';

const DOC = readFileSync(new URL('../docs/serve.md', import.meta.url), 'utf8');

function optionRows(): { usage: string; default: string }[] {
  const start = DOC.indexOf('\n## Options\n');
  expect(start, 'docs/serve.md has no "## Options" section').toBeGreaterThan(-1);
  const section = DOC.slice(start + 12);
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

describe('docs/serve.md options', () => {
  it('lists every flag of sluice serve once, with its default, and nothing else', () => {
    const expected = describeOptions(SERVE_FLAGS).map((o) => ({ usage: o.usage!, default: o.default }));
    expect(optionRows()).toEqual(expected);
  });
});
