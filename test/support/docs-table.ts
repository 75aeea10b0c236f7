/** Reading a flag table out of a docs page, to check it against the option table the CLI reads. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { describeOptions, type OptionTable } from '../../src/formats/options.js';

/** The first two cells (flag usage, default) of each row of the table under `heading`, without backticks. */
export function docRows(page: string, heading: string): { usage: string; default: string }[] {
  const doc = readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
  const start = doc.indexOf(`\n${heading}\n`);
  expect(start, `docs/${page} has no "${heading}" section`).toBeGreaterThan(-1);
  const section = doc.slice(start + heading.length + 2);
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

/** What the table should list: every flag of `table`, in order, with its default. */
export function flagRows(table: OptionTable): { usage: string; default: string }[] {
  return describeOptions(table).flatMap((o) =>
    o.usage === undefined ? [] : [{ usage: o.usage, default: o.default }],
  );
}
