/**
 * docs/mock.md's "Reference: flags and options" is checked against the option table the CLI and the
 * library read (MOCK_OPTIONS), so the three cannot drift: every option is listed once, with its flag
 * and its default, and nothing else is.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeOptions } from '../src/formats/options.js';
import { MOCK_OPTIONS } from '../src/mock/options.js';

const DOC = readFileSync(new URL('../docs/mock.md', import.meta.url), 'utf8');

interface Row {
  flag: string;
  field: string;
  default: string;
}

/** The rows of the markdown table under `heading`, cells without their backticks. */
function referenceRows(heading: string): Row[] {
  const start = DOC.indexOf(`\n${heading}\n`);
  expect(start, `docs/mock.md has no "${heading}" section`).toBeGreaterThan(-1);
  const section = DOC.slice(start + heading.length + 2);
  const end = section.search(/\n## /);
  const lines = (end === -1 ? section : section.slice(0, end))
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2); // header and separator
  return lines.map((line) => {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim().replaceAll('`', ''));
    // The option cell may show the value that matters, `retryAfter: false`.
    return { flag: cells[0]!, field: cells[1]!.split(':')[0]!.trim(), default: cells[2]! };
  });
}

describe('docs/mock.md reference', () => {
  const rows = referenceRows('## Reference: flags and options');
  const options = describeOptions(MOCK_OPTIONS);

  it('lists every option once, with its flag and its default', () => {
    for (const o of options) {
      const listed = rows.filter((r) => r.field === o.field);
      expect(listed, `docs/mock.md: no single row for option ${o.field}`).toHaveLength(1);
      expect(
        { flag: listed[0]!.flag, default: listed[0]!.default },
        `docs/mock.md: the row of ${o.field} should read | \`${o.usage ?? '—'}\` | \`${o.field}\` | ${o.default} |`,
      ).toEqual({ flag: o.usage ?? '—', default: o.default });
    }
  });

  it('lists nothing the emulator does not have', () => {
    const fields = new Set(options.map((o) => o.field));
    expect(rows.map((r) => r.field).filter((f) => !fields.has(f))).toEqual([]);
    expect(rows).toHaveLength(options.length);
  });
});
