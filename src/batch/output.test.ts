import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LineWriter } from './output.js';

it('appends whole lines, at once or buffered, and flushes the buffer on close', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-output-')), 'out.jsonl');
  const writer = new LineWriter(path);
  writer.write({ a: 1 });
  writer.writeBuffered({ b: 2 });
  expect(readFileSync(path, 'utf8')).toBe('{"a":1}\n');
  for (let i = 0; i < 5000; i++) writer.writeBuffered({ i, pad: 'x'.repeat(20) });
  // Buffered lines go out in whole lines, 64 KB at a time.
  expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
  writer.close();
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  expect(lines).toHaveLength(5002);
  expect(writer.lines).toBe(5002);
  expect(JSON.parse(lines.at(-1)!)).toMatchObject({ i: 4999 });
  writer.close();
});
