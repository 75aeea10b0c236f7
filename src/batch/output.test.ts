import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LineWriter, WriteError } from './output.js';
import { keyRedactor } from './redact.js';

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

it('turns a failed write into a WriteError naming the file, and writes nothing after it', () => {
  const writer = new LineWriter('/dev/full');
  expect(() => writer.write({ a: 1 })).toThrow(
    /^Cannot write \/dev\/full: ENOSPC \(no space left on the device\)\.$/,
  );
  expect(writer.broken).toBeInstanceOf(WriteError);
  expect(writer.broken?.code).toBe('ENOSPC');
  // Broken for good: later lines are refused at once, buffered ones too.
  expect(() => writer.write({ b: 2 })).toThrow(WriteError);
  writer.writeBuffered({ c: 3 });
  expect(() => writer.flush()).toThrow(WriteError);
  expect(writer.written).toBe(0);
  writer.close();
});

it('keeps the key out of every line it writes', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-output-')), 'out.jsonl');
  const key = 'sk-proj-0123456789abcdefghij';
  const writer = new LineWriter(path, keyRedactor(key));
  writer.write({ message: `key ${key}` });
  writer.writeBuffered({ message: key.slice(4) });
  writer.writeRaw(JSON.stringify({ raw: key }));
  writer.close();
  const text = readFileSync(path, 'utf8');
  expect(text).not.toContain(key.slice(4, 14));
  expect(
    text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown),
    // Buffered lines go out at close.
  ).toEqual([{ message: 'key [redacted]' }, { raw: '[redacted]' }, { message: '[redacted]' }]);
});
