/**
 * `sluice batch` must never destroy or silently drop a user's data. Each test pins a defect users met
 * running the built CLI; they spawn it (`npm run build` first; `npm test` does).
 */
import { spawn } from 'node:child_process';
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chatLine,
  CLI,
  CLI_ENV,
  launchBatch,
  readJsonl,
  runBatchCli,
  tempDir,
  until,
  writeInput,
} from './support/batch.js';
import { chatCompletion, json, startServer, type TestServer } from './support/server.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** An OpenAI-like server that answers every chat request 200 (400 for `user: "bad"`), counting them. */
async function upstream(): Promise<TestServer> {
  const s = await startServer((_req, res, body) => {
    const user = (JSON.parse(body) as { user?: string }).user;
    if (user === 'bad') json(res, 400, { error: { message: 'bad request', type: 'invalid_request_error' } });
    else json(res, 200, chatCompletion(), { 'x-request-id': `req_${user}` });
  });
  cleanup.push(() => s.close());
  return s;
}

/** A server that holds every answer until `open()`, then answers at once. */
async function gated(): Promise<TestServer & { open(): void }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const s = await startServer(async (_req, res) => {
    await gate;
    if (!res.destroyed) json(res, 200, chatCompletion());
  });
  cleanup.push(() => s.close());
  return Object.assign(s, { open });
}

describe('sluice batch never destroys or drops data', () => {
  it('regression (--errors = the input, then --resume, emptied the input): any aliasing of input, output and errors is refused, exit 2, the input untouched', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 3);
    const before = readFileSync(input);
    const output = join(dir, 'out.jsonl');
    linkSync(input, join(dir, 'hard.jsonl'));
    symlinkSync(input, join(dir, 'sym.jsonl'));

    const first = await runBatchCli([input, '--output', output, '--errors', input, '--base-url', 'mock']);
    expect(first.code).toBe(2);
    expect(first.stderr).toMatch(/The input and --errors are one file/);
    const resumed = await runBatchCli([
      input,
      '--output',
      output,
      '--errors',
      input,
      '--base-url',
      'mock',
      '--resume',
    ]);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/The input and --errors are one file/);
    expect(resumed.stderr).not.toMatch(/dropped/);

    for (const alias of [join(dir, 'hard.jsonl'), join(dir, 'sym.jsonl'), `${dir}/./in.jsonl`]) {
      for (const flag of ['--errors', '--output']) {
        const args = flag === '--errors' ? ['--output', output, '--errors', alias] : ['--output', alias];
        const r = await runBatchCli([input, ...args, '--base-url', 'mock', '--resume']);
        expect(r.code, `${flag} ${alias}`).toBe(2);
        expect(r.stderr).toMatch(/one file/);
      }
    }
    expect(readFileSync(input)).toEqual(before);
    expect(existsSync(output)).toBe(false);
  });

  it('regression (errors-file lines that were not errors lines were "dropped"): --resume refuses such an errors file, naming the file and line, and changes nothing', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 3);
    const output = join(dir, 'out.jsonl');
    const copy = join(dir, 'copy.jsonl');
    writeFileSync(copy, readFileSync(input));
    const r = await runBatchCli([
      input,
      '--output',
      output,
      '--errors',
      copy,
      '--base-url',
      'mock',
      '--resume',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${copy} line 1 is not an errors-file line`);
    expect(readFileSync(copy)).toEqual(readFileSync(input));

    // Two real errors lines, then a line of something else: refused at line 3, nothing rewritten.
    const errors = join(dir, 'errors.jsonl');
    const text = [
      JSON.stringify({
        id: 'batch_req_1',
        custom_id: 'r-1',
        response: null,
        error: { code: 'not_attempted', message: 'm' },
        line: 1,
      }),
      JSON.stringify({
        id: 'batch_req_2',
        custom_id: 'r-2',
        response: null,
        error: { code: 'not_attempted', message: 'm' },
        line: 2,
      }),
      'notes I keep here',
      '',
    ].join('\n');
    writeFileSync(errors, text);
    const mixed = await runBatchCli([
      input,
      '--output',
      output,
      '--errors',
      errors,
      '--base-url',
      'mock',
      '--resume',
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain(`${errors} line 3 is not an errors-file line`);
    expect(readFileSync(errors, 'utf8')).toBe(text);
  });

  it('regression (--errors = --output was accepted and --resume then dropped every success): refused before and after a run, the results kept', async () => {
    const server = await upstream();
    const dir = tempDir();
    const input = writeInput(dir, 3);
    const output = join(dir, 'out.jsonl');
    const base = ['--base-url', `${server.url}/v1`];

    const fresh = await runBatchCli([input, '--output', output, '--errors', output, ...base]);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/--output and --errors are one file/);
    expect(server.requests).toHaveLength(0);

    expect((await runBatchCli([input, '--output', output, ...base])).code).toBe(0);
    const results = readFileSync(output, 'utf8');
    expect(readJsonl(output)).toHaveLength(3);

    const resumed = await runBatchCli([input, '--output', output, '--errors', output, ...base, '--resume']);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/--output and --errors are one file/);
    // The results file given as another run's errors file is not an errors file: refused, kept.
    const other = await runBatchCli([
      input,
      '--output',
      join(dir, 'o2.jsonl'),
      '--errors',
      output,
      ...base,
      '--resume',
    ]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(
      /line 1 is not an errors-file line of sluice batch \(it looks like a result line/,
    );
    expect(readFileSync(output, 'utf8')).toBe(results);
    expect(server.requests).toHaveLength(3);
  });

  it('regression (--output = the input with --resume sent nothing and called every line "done earlier"): refused, nothing sent', async () => {
    const server = await upstream();
    const dir = tempDir();
    const input = writeInput(dir, 3);
    const before = readFileSync(input);
    const base = ['--base-url', `${server.url}/v1`];

    const same = await runBatchCli([input, '--output', input, ...base, '--resume']);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/The input and --output are one file/);
    expect(same.stderr).not.toMatch(/skipped/);

    // A copy of the input as the output is no earlier run's output either.
    const copy = join(dir, 'copy.jsonl');
    writeFileSync(copy, before);
    const copied = await runBatchCli([input, '--output', copy, ...base, '--resume']);
    expect(copied.code).toBe(2);
    expect(copied.stderr).toContain(`${copy} line 1 is not a result line of sluice batch`);
    expect(server.requests).toHaveLength(0);
    expect(readFileSync(input)).toEqual(before);
    expect(readFileSync(copy)).toEqual(before);
  });

  it('regression (piped input was silently lost: "0 succeeded, 0 failed"): a pipe is read once, every line runs, the total is learned at its end, and --resume and duplicates still work', async () => {
    const dir = tempDir();
    const lines = Array.from({ length: 5 }, (_, i) => chatLine(`r-${i + 1}`));
    const output = join(dir, 'out.jsonl');

    const piped = await runBatchCli(['/dev/stdin', '--output', output, '--base-url', 'mock'], {
      stdin: `${lines.join('\n')}\n`,
    });
    expect(piped.code).toBe(0);
    expect(piped.stderr).toMatch(/5 succeeded, 0 failed — of 5 in the file/);
    expect(
      readJsonl(output)
        .map((l) => l.custom_id)
        .sort(),
    ).toEqual(['r-1', 'r-2', 'r-3', 'r-4', 'r-5']);

    // Resumed from a pipe: the finished lines are skipped; a repeated custom_id is still caught.
    const more = [...lines, chatLine('r-6'), chatLine('r-6')];
    const resumed = await runBatchCli(['/dev/stdin', '--output', output, '--base-url', 'mock', '--resume'], {
      stdin: `${more.join('\n')}\n`,
    });
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(
      /1 succeeded, 0 failed, 1 bad, 5 skipped \(done earlier\) — of 7 in the file/,
    );
    expect(readJsonl(`${output}.errors.jsonl`).map((e) => e.error?.code)).toEqual(['duplicate_custom_id']);

    // Process substitution is a pipe too.
    const other = join(dir, 'other.jsonl');
    const sub = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        'bash',
        [
          '-c',
          `"${process.execPath}" "${CLI}" batch <(printf '%s\\n' "$LINES") --output "${other}" --base-url mock`,
        ],
        { env: { ...CLI_ENV, LINES: lines.join('\n') }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.once('close', (code) => resolve({ code, stderr: err }));
    });
    expect(sub.stderr).toMatch(/5 succeeded, 0 failed — of 5 in the file/);
    expect(sub.code).toBe(0);
    expect(readJsonl(other)).toHaveLength(5);
  });

  it('regression (an unwritable output turned paid-for successes into upstream_error failures; a full disk crashed with a stack trace): the first failed write stops sending, exit 1, with the message and the resume command', async () => {
    const server = await upstream();
    const dir = tempDir();
    const input = writeInput(dir, 20);
    const errors = join(dir, 'errors.jsonl');
    const base = ['--base-url', `${server.url}/v1`];

    const full = await runBatchCli([input, '--output', '/dev/full', '--errors', errors, ...base]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/Cannot write \/dev\/full: ENOSPC/);
    expect(full.stderr).toMatch(/Stopped sending at the first failed write/);
    expect(full.stderr).toMatch(/--output \/dev\/full --errors \S+ --base-url \S+ --resume/);
    expect(full.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    // The first request goes alone; its answer could not be written, so nothing more was sent, and no
    // success was recorded as a failure.
    expect(server.requests).toHaveLength(1);
    expect(readJsonl(errors)).toEqual([]);

    // The errors file on a full disk: a 400 answer cannot be recorded; the run stops, no crash.
    const mixed = join(dir, 'mixed.jsonl');
    writeFileSync(mixed, [chatLine('good'), chatLine('bad'), chatLine('later')].join('\n'));
    const results = join(dir, 'results.jsonl');
    const broken = await runBatchCli([
      mixed,
      '--output',
      results,
      '--errors',
      '/dev/full',
      ...base,
      '--max-in-flight',
      '1',
    ]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/Cannot write \/dev\/full: ENOSPC/);
    expect(broken.stderr).toMatch(/Stopped after/);
    expect(broken.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(readJsonl(results).map((l) => l.custom_id)).toEqual(['good']);
    expect(server.requests.map((r) => (JSON.parse(r.body) as { user: string }).user)).not.toContain('later');
  });

  it('regression (two runs on one output sent everything twice): the second run says who holds the output and exits 2; the lock goes with the run', async () => {
    const server = await gated();
    const dir = tempDir();
    const input = writeInput(dir, 20);
    const output = join(dir, 'out.jsonl');
    const base = ['--base-url', `${server.url}/v1`];

    const first = launchBatch([input, '--output', output, ...base]);
    cleanup.push(() => first.child.kill('SIGKILL'));
    await until(() => existsSync(`${output}.lock`) && server.requests.length >= 1);

    for (const extra of [[], ['--resume']]) {
      const second = await runBatchCli([input, '--output', output, ...base, ...extra]);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(
        `is in use by another sluice batch run: pid ${first.child.pid} on this host, started `,
      );
      expect(second.stderr).toContain(`${output}.lock`);
    }
    // Another output but the same errors file is the same conflict.
    const third = await runBatchCli([
      input,
      '--output',
      join(dir, 'o2.jsonl'),
      '--errors',
      `${output}.errors.jsonl`,
      ...base,
    ]);
    expect(third.code).toBe(2);
    expect(third.stderr).toMatch(/is in use by another sluice batch run/);

    server.open();
    expect(await first.exit).toBe(0);
    expect(readJsonl(output)).toHaveLength(20);
    expect(server.requests).toHaveLength(20);
    expect(existsSync(`${output}.lock`)).toBe(false);
    expect(existsSync(`${output}.errors.jsonl.lock`)).toBe(false);
  });

  it('regression (a lock left by kill -9 must not block the next run): it is recognised as stale and replaced', async () => {
    const server = await gated();
    const dir = tempDir();
    const input = writeInput(dir, 20);
    const output = join(dir, 'out.jsonl');
    const base = ['--base-url', `${server.url}/v1`];

    const first = launchBatch([input, '--output', output, ...base]);
    await until(() => existsSync(`${output}.lock`) && server.requests.length >= 1);
    const lock = JSON.parse(readFileSync(`${output}.lock`, 'utf8')) as { pid: number; host: string };
    expect(lock).toMatchObject({ pid: first.child.pid, host: hostname() });
    first.child.kill('SIGKILL');
    await first.exit;
    expect(existsSync(`${output}.lock`)).toBe(true);

    server.open();
    const again = await runBatchCli([input, '--output', output, ...base, '--resume']);
    expect(again.stderr).toMatch(
      new RegExp(
        `Removed a stale lock .*out\\.jsonl\\.lock: the run that held it \\(pid ${first.child.pid},`,
      ),
    );
    expect(again.code).toBe(0);
    expect(readJsonl(output)).toHaveLength(20);
    expect(existsSync(`${output}.lock`)).toBe(false);
  });
});
