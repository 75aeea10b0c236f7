/**
 * `npm run bench:batch -- --part 2`: the peak memory of `sluice batch` over a generated input of a
 * million lines — a `--dry-run`, a `--resume` where every line is already in the output, and a run
 * that sends every line to an emulator without limits.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peakRss, startMockProcess } from './cli-process.js';
import { fmt } from './stats.js';
import { table } from './table.js';

/** Peak RSS of a dry run, a resume with nothing left and a full send, over `lines` generated lines. */
export async function memory(lines: number, seed: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-mem-'));
  const input = join(dir, 'big.jsonl');
  const output = join(dir, 'big-out.jsonl');
  const inFd = openSync(input, 'w');
  const outFd = openSync(output, 'w');
  let inChunk: string[] = [];
  let outChunk: string[] = [];
  for (let i = 1; i <= lines; i++) {
    const id = `request-${i}`;
    inChunk.push(
      JSON.stringify({
        custom_id: id,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'gpt-4o-mini',
          messages: [
            { role: 'system', content: 'You are a helpful assistant.' },
            {
              role: 'user',
              content: `Summarise item number ${i} of the catalogue in two sentences, mentioning its colour and size.`,
            },
          ],
          max_tokens: 100 + (i % 300),
        },
      }),
    );
    outChunk.push(
      JSON.stringify({
        id: 'batch_req_0123456789abcdef0123456789abcdef',
        custom_id: id,
        response: {
          status_code: 200,
          request_id: 'req_0123456789abcdef',
          body: {
            id: 'chatcmpl-1',
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Blue and small.' } }],
          },
        },
        error: null,
      }),
    );
    if (inChunk.length === 10_000) {
      writeSync(inFd, `${inChunk.join('\n')}\n`);
      writeSync(outFd, `${outChunk.join('\n')}\n`);
      inChunk = [];
      outChunk = [];
    }
  }
  if (inChunk.length > 0) {
    writeSync(inFd, `${inChunk.join('\n')}\n`);
    writeSync(outFd, `${outChunk.join('\n')}\n`);
  }
  closeSync(inFd);
  closeSync(outFd);
  const mb = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MB`;
  const size = statSync(input).size;

  const dry = await peakRss(['batch', input, '--dry-run', '--rpm', '10000', '--tpm', '2000000']);
  // Every line finished already: reads both files, sends nothing (the base URL is never reached).
  const resume = await peakRss([
    'batch',
    input,
    '--output',
    output,
    '--resume',
    '--quiet',
    '--base-url',
    'http://127.0.0.1:9/v1',
  ]);
  // Sending every line to an emulator without limits: the window stays full the whole run.
  const mock = await startMockProcess(['--rpm', '0', '--tpm', '0', '--seed', String(seed)]);
  let send;
  try {
    send = await peakRss([
      'batch',
      input,
      '--output',
      join(dir, 'sent.jsonl'),
      '--quiet',
      '--base-url',
      mock.url,
    ]);
  } finally {
    mock.close();
  }
  rmSync(dir, { recursive: true, force: true });
  const row = (name: string, r: { kb: number; seconds: number; code: number | null }) => [
    name,
    fmt(lines),
    mb(size),
    `${fmt(r.kb / 1024)} MB`,
    r.seconds.toFixed(1),
    String(r.code),
  ];
  const rows = [
    row('`--dry-run`', dry),
    row('`--resume`, every line already in the output (nothing to send)', resume),
    row('every line sent to `sluice mock --rpm 0 --tpm 0` (no limits), 256 in flight', send),
  ];
  const target = [dry, resume, send].every((r) => r.kb / 1024 <= 200);
  return `${table(
    [
      'run',
      { title: 'lines', align: 'right' },
      { title: 'input', align: 'right' },
      { title: 'peak RSS', align: 'right' },
      { title: 'wall s', align: 'right' },
      { title: 'exit', align: 'right' },
    ],
    rows,
  )}\n\nTarget peak RSS ≤ 200 MB for ${fmt(lines)} lines: **${target ? 'met' : 'not met'}**.`;
}
