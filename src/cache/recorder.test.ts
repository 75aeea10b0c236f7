import { describe, expect, it } from 'vitest';
import { serve, serves } from './entry.js';
import { AnswerRecorder } from './recorder.js';

const enc = new TextEncoder();
const head = (sse: boolean, status = 200, headers: Record<string, string> = {}) => {
  const h = new Headers(headers);
  return { kind: 'chat' as const, status, sse, headers: { get: (n: string) => h.get(n) } };
};
const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null, ...extra }] })}\n\n`;
const usageFrame = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } })}\n\n`;
const stream = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Hi' }),
  chunk({ content: ' there' }),
  chunk({}, { finish_reason: 'stop' }),
];

function record(parts: string[], h = head(true), max = 1 << 20) {
  const r = new AnswerRecorder(h, max);
  for (const p of parts) r.push(enc.encode(p));
  return r.entry(1000);
}

describe('AnswerRecorder', () => {
  it('stores a stream that ended with [DONE], frames as sent, and its assembled completion', () => {
    const entry = record([...stream, usageFrame, 'data: [DONE]\n\n'])!;
    expect(entry.frames).toEqual([...stream, usageFrame]);
    expect(entry.json).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { content: 'Hi there' } }],
      usage: { total_tokens: 3 },
    });
    expect(entry).toMatchObject({ hasUsage: true, tokens: 3, storedAt: 1000 });
  });

  it.each([
    ['a stream cut before its end', [...stream]],
    [
      'an error event inside a 200 stream',
      [chunk({ content: 'x' }), 'data: {"error":{"code":"insufficient_quota"}}\n\n', 'data: [DONE]\n\n'],
    ],
  ])('never stores %s', (_name, parts) => {
    expect(record(parts)).toBeUndefined();
  });

  it('never stores an error, an answer said no-store, or one over the bound', () => {
    expect(record(['{"error":{"message":"x"}}'], head(false, 400))).toBeUndefined();
    expect(
      record(['{"id":"x","choices":[]}'], head(false, 200, { 'cache-control': 'no-store' })),
    ).toBeUndefined();
    expect(record([...stream, 'data: [DONE]\n\n'], head(true), 100)).toBeUndefined();
  });

  it('serves a stored stream as the JSON a plain request gets, and as the stream again without the usage frame when not asked for', () => {
    const entry = record([...stream, usageFrame, 'data: [DONE]\n\n'])!;
    const json = serve(entry, { stream: false, usage: false });
    expect(JSON.parse((json as { json: string }).json)).toEqual(entry.json);
    const again = serve(entry, { stream: true, usage: false }) as { frames: string[] };
    expect(again.frames).toEqual([...stream, 'data: [DONE]\n\n']);
    const withUsage = serve(entry, { stream: true, usage: true }) as { frames: string[] };
    expect(withUsage.frames).toEqual([...stream, usageFrame, 'data: [DONE]\n\n']);
  });

  it('a stream stored without its usage answers only streamed requests that do not ask for usage', () => {
    const entry = record([...stream, 'data: [DONE]\n\n'])!;
    expect(serves(entry, { stream: true, usage: false })).toBe(true);
    expect(serves(entry, { stream: true, usage: true })).toBe(false);
    expect(serves(entry, { stream: false, usage: false })).toBe(false);
  });
});
