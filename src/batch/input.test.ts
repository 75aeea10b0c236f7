import { mkdtempSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countLines, IdRegistry, joinUrl, LineChecker, readLines, type RawLine } from './input.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-input-'));
let n = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `f${n++}.jsonl`);
  writeFileSync(path, content);
  return path;
}

/** How many of this process's file descriptors are open on `path` (Linux: /proc/self/fd). */
function descriptorsOf(path: string): number {
  const real = realpathSync(path);
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === real) n++;
    } catch {
      // Closed while we looked.
    }
  }
  return n;
}

async function all(path: string): Promise<RawLine[]> {
  const out: RawLine[] = [];
  for await (const line of readLines(path)) out.push(line);
  return out;
}

describe('readLines', () => {
  it('numbers lines as an editor does, skipping blank ones, with CRLF, a BOM and no final newline', async () => {
    const path = file('\uFEFF{"a":1}\r\n\r\n   \n{"b":2}\n{"c":3}');
    expect(await all(path)).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 4, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
    ]);
    expect(await countLines(path)).toBe(3);
  });

  it('joins lines longer than a chunk and keeps multi-byte characters whole', async () => {
    const long = `{"x":"${'é'.repeat(300_000)}"}`;
    const path = file(`${long}\n{"y":"日本"}\n`);
    const lines = await all(path);
    expect(lines.map((l) => l.text)).toEqual([long, '{"y":"日本"}']);
    expect(await countLines(path)).toBe(2);
  });

  it('reads an empty file as no lines', async () => {
    const path = file('');
    expect(await all(path)).toEqual([]);
    expect(await countLines(path)).toBe(0);
  });

  it('stops reading when the consumer stops (the stream is closed)', async () => {
    const path = file(Array.from({ length: 10_000 }, (_, i) => `{"i":${i}}`).join('\n'));
    let seen = 0;
    let openWhileReading = false;
    for await (const _ of readLines(path)) {
      if (++seen === 3) {
        openWhileReading = descriptorsOf(path) > 0;
        break;
      }
    }
    expect(seen).toBe(3);
    // The file was open while lines came, and is closed by the time the loop's break returns.
    expect(openWhileReading).toBe(true);
    expect(descriptorsOf(path)).toBe(0);
  });

  it('counts lines as the reader reads them, whatever whitespace the blank lines hold', async () => {
    const pieces = ['', ' ', '\t', '\r', '\f', '\v', '\u00a0', '\ufeff', '\u2028', '\u3000', 'x', '{}', 'é'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.constantFrom(...pieces), { maxLength: 4 }), { maxLength: 12 }),
        fc.boolean(),
        async (lines, finalNewline) => {
          const text = lines.map((l) => l.join('')).join('\n') + (finalNewline ? '\n' : '');
          const path = file(text);
          expect(await countLines(path)).toBe((await all(path)).length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('LineChecker', () => {
  const good = (id: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      custom_id: id,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      ...extra,
    });

  it('accepts a Batch line and says which endpoint it names', () => {
    const r = new LineChecker().check({ line: 1, text: good('a') });
    expect(r.ok && r.request).toMatchObject({
      line: 1,
      customId: 'a',
      kind: 'chat',
      url: '/v1/chat/completions',
    });
  });

  it.each([
    ['not json', 'invalid_json', /line 7: not JSON/],
    ['[1,2]', 'invalid_line', /expected a JSON object/],
    [
      JSON.stringify({ method: 'POST', url: '/v1/embeddings', body: {} }),
      'missing_custom_id',
      /no "custom_id"/,
    ],
    [
      JSON.stringify({ custom_id: 5, method: 'POST', url: '/v1/embeddings', body: {} }),
      'invalid_line',
      /must be a string/,
    ],
    [good('m', { method: 'GET' }), 'unsupported_method', /"method" must be "POST", got "GET"/],
    [
      good('u', { url: '/v1/images/generations' }),
      'unsupported_url',
      /"url" must be \/v1\/chat\/completions/,
    ],
    [good('b', { body: 'text' }), 'invalid_line', /"body" must be a JSON object/],
    [good('s', { body: { model: 'x', stream: true } }), 'invalid_line', /stream/],
  ])('reports %s as %s with its line number', (text, code, message) => {
    const r = new LineChecker().check({ line: 7, text });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.bad.code).toBe(code);
      expect(r.bad.line).toBe(7);
      expect(r.bad.message).toMatch(message);
    }
  });

  it('says neither line runs when the first line of a repeated custom_id was bad itself', () => {
    const checker = new LineChecker();
    const first = checker.check({ line: 1, text: good('x', { method: 'GET' }) });
    expect(!first.ok && first.bad.code).toBe('unsupported_method');
    const second = checker.check({ line: 2, text: good('x') });
    expect(!second.ok && second.bad.message).toBe(
      'line 2: duplicate custom_id "x" (first used on line 1, which is bad itself, so neither line runs). Fix line 1 or give every line its own custom_id.',
    );
  });

  it('lets the first line with a custom_id run and reports later ones, naming the first', () => {
    const checker = new LineChecker();
    expect(checker.check({ line: 2, text: good('dup') }).ok).toBe(true);
    const r = checker.check({ line: 9, text: good('dup') });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.bad).toMatchObject({ code: 'duplicate_custom_id', customId: 'dup', line: 9 });
      expect(r.bad.message).toContain('first used on line 2');
    }
  });
});

describe('IdRegistry', () => {
  it('holds finished ids and ids seen in the input in one map, and still finds duplicates of finished ones', () => {
    const ids = new IdRegistry();
    ids.add('done');
    ids.add('done');
    expect(ids.size).toBe(1);
    const checker = new LineChecker(ids);
    const line = (id: string) =>
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'e', input: 'x' },
      });
    const a = checker.check({ line: 1, text: line('done') });
    const b = checker.check({ line: 2, text: line('new') });
    const c = checker.check({ line: 3, text: line('done') });
    expect(a.ok && a.finished).toBe(true);
    expect(b.ok && b.finished).toBe(false);
    expect(!c.ok && c.bad.message).toMatch(/first used on line 1/);
    expect(ids.has('done')).toBe(true);
    expect(ids.has('new')).toBe(false);
    expect([...ids.finished()]).toEqual(['done']);
  });
});

describe('IdRegistry (compared with a Map)', () => {
  it('agrees with a Map over many ids, repeats, finished ones and multi-byte text, through every growth', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 })), {
          maxLength: 300,
        }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (ids, finishedPicks) => {
          const registry = new IdRegistry();
          const finished = new Set(finishedPicks.filter((i) => i < ids.length).map((i) => ids[i]!));
          for (const id of finished) registry.add(id);
          const first = new Map<string, number>();
          ids.forEach((id, i) => {
            const seen = registry.see(id, i + 1);
            expect(seen.finished).toBe(finished.has(id));
            expect(seen.firstLine).toBe(first.get(id));
            if (!first.has(id)) first.set(id, i + 1);
          });
          expect(registry.size).toBe(finished.size);
          expect(new Set(registry.finished())).toEqual(finished);
        },
      ),
    );
  });

  it('holds 200,000 ids', () => {
    const registry = new IdRegistry();
    for (let i = 0; i < 200_000; i++) {
      // Made room for all at once part way through, as the runner does when the line count arrives.
      if (i === 1000) registry.reserve(200_000);
      registry.see(`request-${i}`, i + 1);
    }
    expect(registry.see('request-999', 5)).toEqual({ firstLine: 1000, finished: false });
    expect(registry.see('request-123456', 999_999)).toEqual({ firstLine: 123_457, finished: false });
    expect(registry.see('request-200000', 1)).toEqual({ firstLine: undefined, finished: false });
  });
});

describe('joinUrl', () => {
  it('joins the way the SDKs do: the base carries /v1, the line url repeats it', () => {
    expect(joinUrl('http://h:1/v1', '/v1/chat/completions')).toBe('http://h:1/v1/chat/completions');
    expect(joinUrl('https://api.openai.com/v1/', '/v1/embeddings')).toBe(
      'https://api.openai.com/v1/embeddings',
    );
    expect(joinUrl('http://h:1/openai/v1', '/v1/responses')).toBe('http://h:1/openai/v1/responses');
    expect(joinUrl('http://h:1/v1', '/chat/completions')).toBe('http://h:1/v1/chat/completions');
  });
});
