/**
 * The numbers `sluice batch` shows are honest: rates and ETAs follow the limiter, counts say what really
 * happened to each line, and the exit status counts only this input's lines. Each test pins a defect.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchRun, runBatch } from '../src/batch/runner.js';
import { formatBar } from '../src/batch/display.js';
import { formatSummary } from '../src/batch/summary.js';
import { startMock, type MockOptions, type MockServer } from '../src/mock/index.js';
import { chatLine, readJsonl, runBatchCli, tempDir, TimerClock, until, writeInput } from './support/batch.js';
import { startServer, type TestServer } from './support/server.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function mock(options: MockOptions): Promise<MockServer> {
  const m = await startMock(options);
  cleanup.push(() => m.close());
  return m;
}

async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  cleanup.push(() => s.close());
  return s;
}

describe('rates and ETAs follow the limiter', () => {
  it('regression (at --rpm 1 the progress showed "6/1 rpm", "ETA 40.0s", then "0 rpm, ETA ?" without the limit), and interrupted runs counted never-sent lines as "abandoned in flight"', async () => {
    // One clock for the runner and the emulator: time moves only when the test says.
    const clock = new TimerClock(1_700_000_000_000);
    const m = await mock({ rpm: 1, tpm: 0, burstSeconds: 60, clock });
    const dir = tempDir();
    const t = { input: writeInput(dir, 5), output: join(dir, 'out.jsonl') };
    const run = new BatchRun({ ...t, baseUrl: m.url, apiKey: 'sk-test', rpm: 1, engine: { clock } });
    const done = run.run();
    const written = () => readJsonl(t.output).length;

    // The first request goes at once; the other four wait a minute each. The limiter's state is
    // sampled once a second (real time): wait for a sample taken after the first answer.
    await until(() => written() === 1);
    await new Promise((r) => setTimeout(r, 1200));
    let s = run.tracker.snapshot();
    expect(s).toMatchObject({ requestsPerMin: 1, rpmLimit: 1, done: 1, total: 5 });
    expect(s.etaMs).toBe(4 * 60_000);
    expect(formatBar(s, 200)).toContain('1/1 rpm');
    expect(formatBar(s, 200)).toContain('ETA 4m00s');

    await clock.advance(61_000);
    await until(() => written() === 2);
    await new Promise((r) => setTimeout(r, 1200));
    s = run.tracker.snapshot();
    // Between admissions, the limit is still shown and the rate is still the limiter's.
    expect(s).toMatchObject({ requestsPerMin: 1, rpmLimit: 1, done: 2 });
    // Three more admissions a minute apart (the engine keeps 100 ms of safety margin).
    expect(s.etaMs).toBeGreaterThanOrEqual(3 * 60_000 - 1000);
    expect(s.etaMs).toBeLessThanOrEqual(3 * 60_000 + 1000);

    // Half-way to the next admission: still the limiter's rate, the limit shown, the time left counted down.
    await clock.advance(30_000);
    await new Promise((r) => setTimeout(r, 1200));
    s = run.tracker.snapshot();
    expect(s).toMatchObject({ requestsPerMin: 1, rpmLimit: 1, done: 2 });
    expect(s.etaMs).toBeGreaterThanOrEqual(2.5 * 60_000 - 1000);
    expect(s.etaMs).toBeLessThanOrEqual(2.5 * 60_000 + 1000);
    expect(formatBar(s, 200)).toMatch(/1\/1 rpm .*ETA 2m(29|3[01])s/);

    // Ctrl-C now: the three waiting lines were never on the wire.
    run.interrupt();
    const summary = await done;
    expect(summary).toMatchObject({ exitCode: 130, succeeded: 2, abandoned: 0, unsent: 3 });
    const text = formatSummary(summary, 'sluice batch … --resume');
    expect(text).toMatch(/2 succeeded, 0 failed, 3 not sent/);
    expect(text).not.toMatch(/abandoned/);
    expect(m.stats().admitted).toBe(2);
  });

  it('regression (a too-large first request showed "300,000,660 tokens/min of 200,000 (150000%)"): refused attempts do not count in the rate, and the percentage is capped', async () => {
    const m = await mock({ rpm: 500, tpm: 200_000, burstSeconds: 60 });
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, [chatLine('huge', 5_000_000), chatLine('small', 20)].join('\n'));
    const output = join(dir, 'out.jsonl');
    const s = await runBatch({ input, output, baseUrl: m.url, apiKey: 'sk-test' });
    expect(s).toMatchObject({ succeeded: 1, failed: 1, exitCode: 1 });
    expect(readJsonl(`${output}.errors.jsonl`)[0]?.error?.code).toBe('request_too_large');
    // Only the small request used the limits: "question small" is 4 prompt tokens, and 20 completion.
    expect(s.lanes).toHaveLength(1);
    expect(s.lanes[0]).toMatchObject({ requests: 1, tokens: 24, tpmLimit: 200_000 });
    const text = formatSummary(s, 'sluice batch … --resume');
    const percents = [...text.matchAll(/\((>?\d+)%\)/g)].map((p) => p[1]!);
    expect(percents.length).toBeGreaterThan(0);
    for (const p of percents) expect(p === '>999' || Number(p) <= 999).toBe(true);
    expect(text).not.toMatch(/5,000,0\d\d/);
  });
});

describe('counts say what happened', () => {
  it('regression (the total counted lines of only a no-break space or a form feed: "2 succeeded … of 4"): the total counts what the reader reads', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, [chatLine('a'), '\u00a0', '\f', ' \t\u00a0\r', chatLine('b'), '\ufeff'].join('\n'));
    const r = await runBatchCli([input, '--output', join(dir, 'out.jsonl'), '--base-url', 'mock']);
    expect(r.stderr).toMatch(/2 succeeded, 0 failed — of 2 in the file/);
    expect(r.code).toBe(0);
  });

  it('regression ("duplicate custom_id … only the first line runs" was said when the first line was bad): the message says neither runs', async () => {
    const m = await mock({ rpm: 0, tpm: 0 });
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(
      input,
      [
        JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: {} }),
        chatLine('x'),
        chatLine('y'),
        chatLine('y'),
      ].join('\n'),
    );
    const logs: string[] = [];
    const s = await runBatch({
      input,
      output: join(dir, 'o.jsonl'),
      baseUrl: m.url,
      log: (l) => logs.push(l),
    });
    expect(s).toMatchObject({ succeeded: 1, bad: 3 });
    const text = logs.join('\n');
    expect(text).toMatch(
      /line 2: duplicate custom_id "x" \(first used on line 1, which is bad itself, so neither line runs\)/,
    );
    expect(text).toMatch(
      /line 4: duplicate custom_id "y" \(first used on line 3\); only the first line runs/,
    );
    expect(m.stats().received).toBe(1);
  });

  it('regression (after a failed line was removed from the input, every --resume still exited 1): earlier failures of lines no longer in the input do not count, and the summary says so', async () => {
    const m = await mock({ rpm: 0, tpm: 0 });
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    const broken = JSON.stringify({
      custom_id: 'broken',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini' },
    });
    writeFileSync(input, [chatLine('good'), broken].join('\n'));
    const output = join(dir, 'out.jsonl');
    const options = { input, output, baseUrl: m.url, apiKey: 'sk-test' };
    expect(await runBatch(options)).toMatchObject({ succeeded: 1, failed: 1, exitCode: 1 });
    expect((await runBatch({ ...options, resume: true })).exitCode).toBe(1);

    writeFileSync(input, `${chatLine('good')}\n`);
    const s = await runBatch({ ...options, resume: true });
    expect(s).toMatchObject({ skipped: 1, earlierFailed: 0, earlierFailedGone: 1, exitCode: 0 });
    expect(formatSummary(s, 'sluice batch … --resume')).toMatch(
      /1 earlier failures in \S+ are for custom_ids no longer in the input: left in the file, not counted in the exit status/,
    );
    expect(readJsonl(`${output}.errors.jsonl`).map((e) => e.custom_id)).toEqual(['broken']);
  });

  it('regression (a 200 with an HTML body was recorded as a success): it is a failure, invalid_response, with a clear message', async () => {
    const page = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><body>Sign in to continue</body></html>');
    });
    const dir = tempDir();
    const input = writeInput(dir, 3);
    const output = join(dir, 'out.jsonl');
    const s = await runBatch({ input, output, baseUrl: `${page.url}/v1`, apiKey: 'sk-test' });
    expect(s).toMatchObject({ succeeded: 0, failed: 3, exitCode: 1 });
    expect(readJsonl(output)).toHaveLength(0);
    const errors = readJsonl(`${output}.errors.jsonl`);
    expect(errors.map((e) => e.error?.code)).toEqual([
      'invalid_response',
      'invalid_response',
      'invalid_response',
    ]);
    expect(errors[0]!.error?.message).toMatch(
      /body is not a JSON object \(it starts "<!DOCTYPE html>.*Check --base-url/,
    );
    expect(errors[0]!.response).toMatchObject({
      status_code: 200,
      body: expect.stringContaining('<!DOCTYPE'),
    });
  });

  it('regression (--output /dev/stdout created /dev/stdout.errors.jsonl): a non-regular output needs an explicit --errors; with one, results go to stdout', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 2);
    const refused = await runBatchCli([input, '--output', '/dev/stdout', '--base-url', 'mock']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /--output \/dev\/stdout is not a regular file .* Name one with --errors <file>/,
    );

    const errors = join(dir, 'errors.jsonl');
    const ok = await runBatchCli([
      input,
      '--output',
      '/dev/stdout',
      '--errors',
      errors,
      '--base-url',
      'mock',
    ]);
    expect(ok.code).toBe(0);
    const lines = ok.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string });
    expect(lines.map((l) => l.custom_id).sort()).toEqual(['r-1', 'r-2']);
  });
});
