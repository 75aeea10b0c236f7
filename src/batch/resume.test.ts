import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLine, outputLine } from '../formats/batch-lines.js';
import { loadResumeState, outputCustomId, repairTail } from './resume.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-resume-'));
let n = 0;
function paths(): { output: string; errors: string } {
  const output = join(dir, `out${n++}.jsonl`);
  return { output, errors: `${output}.errors.jsonl` };
}
const jsonl = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');
const ok = (id: string) => outputLine(id, { status_code: 200, request_id: 'req_1', body: { id: 'x' } });
const err = (id: string | null, code: string) => errorLine(id, 3, code, 'm');

describe('loadResumeState', () => {
  it('treats succeeded lines and kept failures as finished, and drops what runs again', async () => {
    const { output, errors } = paths();
    writeFileSync(output, jsonl([ok('a'), ok('b')]));
    writeFileSync(
      errors,
      jsonl([
        err('c', 'upstream_rejected'),
        err('d', 'not_attempted'),
        err('e', 'quota_exhausted'),
        err(null, 'invalid_json'),
        err('f', 'duplicate_custom_id'),
        err('g', 'upstream_error'),
        err('a', 'not_attempted'),
      ]),
    );
    const state = await loadResumeState(output, errors, { retryFailed: false });
    expect([...state.finished.finished()].sort()).toEqual(['a', 'b', 'c', 'g']);
    expect(state).toMatchObject({ succeeded: 2, failed: 2, rerun: 2 });
    // The errors file now holds only the kept failures, so new results do not duplicate old entries.
    const kept = readFileSync(errors, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).custom_id);
    expect(kept).toEqual(['c', 'g']);
  });

  it('with retryFailed, keeps nothing but the succeeded lines', async () => {
    const { output, errors } = paths();
    writeFileSync(output, jsonl([ok('a')]));
    writeFileSync(errors, jsonl([err('c', 'upstream_rejected'), err('g', 'rate_limited')]));
    const state = await loadResumeState(output, errors, { retryFailed: true });
    expect([...state.finished.finished()]).toEqual(['a']);
    expect(state.rerun).toBe(2);
    expect(readFileSync(errors, 'utf8')).toBe('');
  });

  it('read-only (dry run) changes nothing on disk', async () => {
    const { output, errors } = paths();
    const outText = `${JSON.stringify(ok('a'))}\n{"id":"batch_req_x","cust`;
    const errText = jsonl([err('d', 'not_attempted')]);
    writeFileSync(output, outText);
    writeFileSync(errors, errText);
    const state = await loadResumeState(output, errors, { retryFailed: false, readOnly: true });
    expect([...state.finished.finished()]).toEqual(['a']);
    expect(readFileSync(output, 'utf8')).toBe(outText);
    expect(readFileSync(errors, 'utf8')).toBe(errText);
  });

  it('refuses files Sluice did not write, naming the file and line, and changes nothing', async () => {
    const input = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: {} });
    for (const [which, text, message] of [
      [
        'output',
        `${input}\n`,
        /out\d+\.jsonl line 1 is not a result line of sluice batch \(it looks like an input line/,
      ],
      [
        'output',
        `${JSON.stringify(ok('a'))}\nhello\n${JSON.stringify(ok('b'))}\n`,
        /line 2 is not a result line/,
      ],
      [
        'errors',
        `${JSON.stringify(ok('a'))}\n`,
        /line 1 is not an errors-file line of sluice batch \(it looks like a result line/,
      ],
      [
        'errors',
        `${JSON.stringify(err('c', 'not_attempted'))}\n${input}`,
        /line 2 is not an errors-file line/,
      ],
    ] as const) {
      const { output, errors } = paths();
      const path = which === 'output' ? output : errors;
      writeFileSync(path, text);
      await expect(loadResumeState(output, errors, { retryFailed: false })).rejects.toThrow(message);
      expect(readFileSync(path, 'utf8')).toBe(text);
    }
  });

  it('removes a torn last line of the errors file and keeps the rest', async () => {
    const { output, errors } = paths();
    const kept = JSON.stringify(err('c', 'upstream_rejected'));
    writeFileSync(errors, `${kept}\n{"id":"batch_req_9","custom_id":"d","resp`);
    const state = await loadResumeState(output, errors, { retryFailed: false });
    expect(state.notes.join('')).toMatch(/cut short/);
    expect(state.failed).toBe(1);
    expect([...state.failedIds.finished()]).toEqual(['c']);
    expect(readFileSync(errors, 'utf8')).toBe(`${kept}\n`);
  });

  it('starts from nothing when the files do not exist', async () => {
    const { output, errors } = paths();
    const state = await loadResumeState(output, errors, { retryFailed: false });
    expect(state.finished.size).toBe(0);
  });
});

describe('repairTail', () => {
  it('removes a torn last line (killed while writing) and says so', async () => {
    const { output } = paths();
    const whole = JSON.stringify(ok('a'));
    writeFileSync(output, `${whole}\n{"id":"batch_req_1","custom_id":"b","resp`);
    expect(repairTail(output)).toMatch(/cut short/);
    expect(readFileSync(output, 'utf8')).toBe(`${whole}\n`);
    const state = await loadResumeState(output, `${output}.e`, { retryFailed: false });
    expect([...state.finished.finished()]).toEqual(['a']);
  });

  it('completes a whole last line that only lacks its newline', () => {
    const { output } = paths();
    const whole = JSON.stringify(ok('a'));
    writeFileSync(output, whole);
    expect(repairTail(output)).toBeUndefined();
    expect(readFileSync(output, 'utf8')).toBe(`${whole}\n`);
  });

  it('leaves a last line alone that is not one Sluice was writing', () => {
    const { output } = paths();
    writeFileSync(output, 'my notes, no newline');
    expect(repairTail(output)).toBeUndefined();
    expect(readFileSync(output, 'utf8')).toBe('my notes, no newline');
  });

  it('empties a file whose only line is torn', () => {
    const { output } = paths();
    writeFileSync(output, '{"id":"batch_req_1","cus');
    expect(repairTail(output)).toMatch(/cut short/);
    expect(readFileSync(output, 'utf8')).toBe('');
  });
});

describe('outputCustomId', () => {
  it('reads the custom_id of lines Sluice writes and of any other JSON object with one', () => {
    expect(outputCustomId(JSON.stringify(ok('q"uote\\d')))).toBe('q"uote\\d');
    expect(outputCustomId('{"custom_id":"z","response":null}')).toBe('z');
    expect(outputCustomId('{"id":"batch_req_1","custom_id":"torn')).toBeUndefined();
  });
});
