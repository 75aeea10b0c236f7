/**
 * `sluice batch` in process: the runner against the emulator (and plain node:http servers) on loopback.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpTransport, type Transport } from '../src/protocol/http.js';
import { planBatch } from '../src/batch/plan.js';
import { BatchRun, runBatch, type BatchOptions } from '../src/batch/runner.js';
import { startMock, type MockOptions, type MockServer } from '../src/mock/index.js';
import { chatLine, idCounts, readJsonl, tempDir, TimerClock, until, writeInput } from './support/batch.js';
import { json, startServer, type TestServer } from './support/server.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function mock(options: MockOptions): Promise<MockServer> {
  const m = await startMock(options);
  open.push(m);
  return m;
}

async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  open.push(s);
  return s;
}

function setup(count: number, base: string, extra: Partial<BatchOptions> = {}) {
  const dir = tempDir();
  const input = writeInput(dir, count);
  const output = join(dir, 'out.jsonl');
  const errors = `${output}.errors.jsonl`;
  const logs: string[] = [];
  const options: BatchOptions = {
    input,
    output,
    baseUrl: base,
    apiKey: 'sk-test',
    log: (m) => logs.push(m),
    ...extra,
  };
  return { dir, input, output, errors, logs, options };
}

/** The real transport, counting the requests on the wire. */
function countingTransport(): { transport: Transport; inFlight: () => number } {
  const http = httpTransport({ maxSockets: 256 });
  open.push({ close: async () => http.close() });
  let inFlight = 0;
  const transport: Transport = async (url, post) => {
    inFlight++;
    try {
      return await http(url, post);
    } finally {
      inFlight--;
    }
  };
  return { transport, inFlight: () => inFlight };
}

/**
 * Moves `clock` in 5 ms steps while nothing is on the wire, until `work` settles (or `pause()` holds);
 * resolves with `work`'s result.
 */
async function drive<T>(
  clock: TimerClock,
  wire: { inFlight: () => number },
  work: Promise<T>,
  pause: () => boolean = () => false,
): Promise<T> {
  let settled = false;
  const done = work.finally(() => (settled = true));
  while (!settled && !pause()) {
    if (wire.inFlight() === 0) await clock.advance(5);
    else await new Promise((r) => setTimeout(r, 1));
  }
  return done;
}

/** Every line's custom_id appears exactly once across the two files. */
function expectEachOnce(count: number, output: string, errors: string): void {
  const counts = idCounts(output, errors);
  expect(counts.size).toBe(count);
  for (let i = 1; i <= count; i++) expect(counts.get(`r-${i}`), `r-${i}`).toBe(1);
}

describe('sluice batch (runner)', () => {
  it('finishes every line under tight limits, paced rather than refused (given limits)', async () => {
    // The runner and the emulator share one clock, moved only while nothing is on the wire: the time
    // taken is the limiter's schedule alone, whatever the machine's load.
    const clock = new TimerClock(1_700_000_000_000);
    const m = await mock({ rpm: 1800, tpm: 0, burstSeconds: 1, clock });
    const wire = countingTransport();
    const t = setup(90, m.url, { rpm: 1800, transport: wire.transport, engine: { clock } });
    const start = clock.now();
    const s = await drive(clock, wire, runBatch(t.options));
    const wall = clock.now() - start;
    expect(s).toMatchObject({ succeeded: 90, failed: 0, bad: 0, exitCode: 0 });
    expect(readJsonl(t.output)).toHaveLength(90);
    expect(readJsonl(t.errors)).toHaveLength(0);
    // On one clock they do not lag at all: the emulator never refused one.
    expect(m.stats().rejected.total).toBe(0);
    // 30 at once (1 s burst), then 30/s: (90 − 30) / 30 = 2 s at least. How close a run comes to that
    // is measured by `npm run bench:batch`: here the clock also moves while the machine is merely busy.
    expect(wall).toBeGreaterThan(1800);
    const first = readJsonl(t.output)[0]!;
    expect(first.id).toMatch(/^batch_req_[0-9a-f]{32}$/);
    expect(first.error).toBeNull();
    expect(first.response).toMatchObject({ status_code: 200, request_id: expect.stringMatching(/^req_/) });
  });

  it('learns the limits from the headers when none are given', async () => {
    const clock = new TimerClock(1_700_000_000_000);
    const m = await mock({ rpm: 1800, tpm: 0, burstSeconds: 1, clock });
    const wire = countingTransport();
    const t = setup(90, m.url, { transport: wire.transport, engine: { clock } });
    const s = await drive(clock, wire, runBatch(t.options));
    expect(s).toMatchObject({ succeeded: 90, exitCode: 0 });
    // On one clock with the emulator, what the headers taught is exact: nothing refused.
    expect(m.stats().rejected.total).toBe(0);
    expect(s.lanes[0]).toMatchObject({ model: 'gpt-4o-mini', rpmLimit: 1800 });
  });

  it('ends with every line succeeded despite 5% 5xx answers and 5% connection resets', async () => {
    const m = await mock({ rpm: 0, tpm: 0, errorRate: 0.05, resetRate: 0.05, seed: 11 });
    const t = setup(300, m.url, { engine: { retry: { baseDelayMs: 50, maxDelayMs: 400 } } });
    const s = await runBatch(t.options);
    expect(s).toMatchObject({ succeeded: 300, failed: 0, exitCode: 0 });
    expect(m.stats().errors.injected).toBeGreaterThan(0);
    expect(m.stats().errors.resets).toBeGreaterThan(0);
    expect(s.retries).toBeGreaterThan(0);
    expectEachOnce(300, t.output, t.errors);
  });

  it('stops promptly on a quota error: the rest is not_attempted, exit 1, and --resume finishes after billing is fixed', async () => {
    const broke = await mock({ rpm: 6000, tpm: 0, burstSeconds: 1, quotaRequests: 40 });
    const t = setup(300, broke.url, { maxInFlight: 20 });
    const s = await runBatch(t.options);
    expect(s.exitCode).toBe(1);
    expect(s.stopped?.reason).toBe('quota');
    expect(s.stopped?.message).toMatch(/quota is exhausted: insufficient_quota/);
    expect(s.succeeded).toBe(40);
    // Nothing more is sent: at most the window was on the wire when the first quota error came back.
    expect(broke.stats().received).toBeLessThanOrEqual(40 + 20);
    const errors = readJsonl(t.errors);
    const codes = new Set(errors.map((e) => e.error?.code));
    expect([...codes].sort()).toEqual(['not_attempted', 'quota_exhausted']);
    expect(errors.filter((e) => e.error?.code === 'not_attempted').length).toBeGreaterThan(200);
    expect(errors.every((e) => typeof e.line === 'number')).toBe(true);
    expectEachOnce(300, t.output, t.errors);

    const fixed = await mock({ rpm: 0, tpm: 0 });
    const again = await runBatch({ ...t.options, baseUrl: fixed.url, resume: true });
    expect(again).toMatchObject({ skipped: 40, succeeded: 260, exitCode: 0 });
    expect(fixed.stats().received).toBe(260);
    expect(readJsonl(t.errors)).toHaveLength(0);
    expectEachOnce(300, t.output, t.errors);
  });

  it('reports bad lines with their line numbers and runs the rest', async () => {
    const m = await mock({ rpm: 0, tpm: 0 });
    const t = setup(0, m.url);
    const lines = [
      chatLine('ok-1'),
      'this is not json',
      JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: {} }),
      '',
      chatLine('ok-1'),
      JSON.stringify({ custom_id: 'img', method: 'POST', url: '/v1/images/generations', body: {} }),
      JSON.stringify({ custom_id: 'get', method: 'GET', url: '/v1/chat/completions', body: {} }),
      chatLine('ok-2'),
    ];
    writeFileSync(t.input, `${lines.join('\n')}\n`);
    const s = await runBatch(t.options);
    expect(s).toMatchObject({ succeeded: 2, bad: 5, exitCode: 1 });
    const bad = readJsonl(t.errors).map((e) => [e.line, e.error?.code, e.custom_id]);
    expect(bad).toEqual([
      [2, 'invalid_json', null],
      [3, 'missing_custom_id', null],
      [5, 'duplicate_custom_id', 'ok-1'],
      [6, 'unsupported_url', 'img'],
      [7, 'unsupported_method', 'get'],
    ]);
    expect(t.logs.join('\n')).toMatch(
      /line 2: not JSON[\s\S]*line 5: duplicate custom_id "ok-1" \(first used on line 1\)/,
    );
  });

  it('passes a 4xx answer through to the errors file, and --retry-failed sends it again', async () => {
    const m = await mock({ rpm: 0, tpm: 0 });
    const t = setup(0, m.url);
    writeFileSync(
      t.input,
      [
        chatLine('good'),
        JSON.stringify({
          custom_id: 'broken',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini' },
        }),
      ].join('\n'),
    );
    const s = await runBatch(t.options);
    expect(s).toMatchObject({ succeeded: 1, failed: 1, exitCode: 1 });
    const [entry] = readJsonl(t.errors);
    expect(entry).toMatchObject({ custom_id: 'broken', line: 2, error: { code: 'upstream_rejected' } });
    expect(entry!.response?.status_code).toBe(400);
    expect(entry!.response?.body).toMatchObject({ error: { type: 'invalid_request_error' } });

    // A plain --resume keeps the failure; --retry-failed sends it once more.
    const kept = await runBatch({ ...t.options, resume: true });
    expect(kept).toMatchObject({ skipped: 2, failed: 0, earlierFailed: 1, exitCode: 1 });
    const before = m.stats().received;
    const retried = await runBatch({ ...t.options, resume: true, retryFailed: true });
    expect(retried).toMatchObject({ skipped: 1, failed: 1 });
    expect(m.stats().received).toBe(before + 1);
    expect(idCounts(t.output, t.errors)).toEqual(
      new Map([
        ['good', 1],
        ['broken', 1],
      ]),
    );
  });

  it('stops when the key is refused (401) and resumes with the right key', async () => {
    const m = await mock({ rpm: 0, tpm: 0, keys: ['sk-right'] });
    const t = setup(50, m.url, { apiKey: 'sk-wrong', maxInFlight: 5 });
    const s = await runBatch(t.options);
    expect(s.stopped?.reason).toBe('unauthorized');
    expect(s.stopped?.message).toMatch(/refused the key \(401/);
    expect(s.stopped?.message).not.toContain('sk-wrong');
    expect(m.stats().received).toBeLessThanOrEqual(5);
    expectEachOnce(50, t.output, t.errors);
    const again = await runBatch({ ...t.options, apiKey: 'sk-right', resume: true });
    expect(again).toMatchObject({ succeeded: 50, exitCode: 0 });
    expectEachOnce(50, t.output, t.errors);
  });

  it('stops when the upstream is down for many requests in a row', async () => {
    const gone = await server((_req, res) => {
      res.destroy();
    });
    const t = setup(200, `${gone.url}/v1`, {
      maxInFlight: 4,
      engine: { retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 2 } },
    });
    const s = await runBatch(t.options);
    expect(s.stopped?.reason).toBe('upstream_down');
    expect(s.stopped?.message).toMatch(/in a row failed after every retry/);
    expect(s.failed).toBeGreaterThanOrEqual(10);
    expect(s.notAttempted).toBeGreaterThan(150);
    expectEachOnce(200, t.output, t.errors);
  });

  it('joins the url the SDK way, sends the key as a bearer token and never writes it', async () => {
    const s = await server((req, res, body) => {
      const id = (JSON.parse(body) as { user: string }).user;
      json(
        res,
        200,
        { id, object: 'chat.completion', usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } },
        {
          'x-request-id': `req_${id}`,
        },
      );
    });
    const t = setup(3, `${s.url}/v1`, { apiKey: 'sk-secret-123' });
    const summary = await runBatch(t.options);
    expect(summary).toMatchObject({ succeeded: 3, promptTokens: 6, completionTokens: 9 });
    expect(s.requests.map((r) => r.url)).toEqual(Array(3).fill('/v1/chat/completions'));
    expect(s.requests[0]!.headers['authorization']).toBe('Bearer sk-secret-123');
    const out = readJsonl(t.output);
    expect(out.map((l) => l.response?.request_id).sort()).toEqual(['req_r-1', 'req_r-2', 'req_r-3']);
    expect(JSON.stringify(out) + t.logs.join('') + JSON.stringify(summary)).not.toContain('sk-secret');
  });

  it('on interrupt stops sending, writes nothing for unfinished lines, and resume completes the file', async () => {
    const clock = new TimerClock(1_700_000_000_000);
    const m = await mock({ rpm: 3000, tpm: 0, burstSeconds: 1, clock });
    const wire = countingTransport();
    const t = setup(200, m.url, { rpm: 3000, graceMs: 2000, transport: wire.transport, engine: { clock } });
    const run = new BatchRun(t.options);
    const done = run.run();
    // 50 at once (1 s burst), then 50 a second: interrupt once about 60 are written.
    let written = 0;
    void drive(clock, wire, done, () => (written = readJsonl(t.output).length) >= 60);
    await until(() => written >= 60);
    run.interrupt();
    const s = await done;
    expect(s.exitCode).toBe(130);
    expect(s.stopped?.reason).toBe('interrupt');
    expect(s.succeeded).toBeGreaterThan(20);
    expect(s.succeeded).toBeLessThan(150);
    // Requests in flight had their grace to finish: everything the server processed was written.
    expect(m.stats().admitted).toBe(s.succeeded);
    // Time stood still at the interrupt, with nothing on the wire: every other line was never sent.
    expect(s).toMatchObject({ abandoned: 0, unsent: 200 - s.succeeded });
    const again = await drive(clock, wire, runBatch({ ...t.options, resume: true }));
    expect(again.skipped + again.succeeded).toBe(200);
    expectEachOnce(200, t.output, t.errors);
    // No finished request was processed twice.
    expect(m.stats().admitted).toBe(200);
  });

  it('refuses to overwrite an earlier run without --resume', async () => {
    const t = setup(1, 'http://127.0.0.1:9/v1');
    writeFileSync(t.output, '{"custom_id":"x"}\n');
    await expect(runBatch(t.options)).rejects.toThrow(/already exists and is not empty.*--resume/);
  });
});

describe('planBatch (--dry-run)', () => {
  it('counts lines, bad lines, tokens and the minimum time per model, reading nothing else', async () => {
    const dir = tempDir();
    const input = join(dir, 'in.jsonl');
    writeFileSync(
      input,
      [chatLine('a', 100), chatLine('b', 100), chatLine('c', 100, 'gpt-4o'), 'nope', chatLine('a')].join(
        '\n',
      ),
    );
    const plan = await planBatch({ input, rpm: 60, tpm: 1000 });
    expect(plan).toMatchObject({ lines: 5, valid: 3, bad: 2, toSend: 3, withoutMax: 0 });
    // "question a" is 10 characters: 3 prompt tokens, plus 100 completion.
    expect(plan.promptTokens).toBe(9);
    expect(plan.completionTokens).toBe(300);
    // gpt-4o-mini: 2 requests at 60 RPM = 2 s; 206 tokens at 1000 TPM = 12.36 s.
    expect(plan.models[0]).toMatchObject({ model: 'gpt-4o-mini', requests: 2, tokens: 206 });
    expect(plan.minMs).toBeCloseTo(12_360, 0);
    expect(plan.badLines.map((b) => b.line)).toEqual([4, 5]);
  });
});
