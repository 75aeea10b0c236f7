import { describe, expect, it } from 'vitest';
import type { RequestRecord } from './context.js';
import { logLine, requestLog } from './request-log.js';

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  method: 'POST',
  path: '/v1/chat/completions',
  lane: 'api.openai.com|3f2a|gpt-4o-mini',
  app: 'search',
  priority: 'interactive',
  outcome: 'success',
  status: 200,
  queuedMs: 12.4,
  attempts: 1,
  durationMs: 175.6,
  ttfbMs: 100,
  upstreamMs: 90,
  ...over,
});

describe('logLine', () => {
  it('writes the documented fields, times rounded to whole ms', () => {
    const r = record();
    expect(JSON.parse(logLine(r, Date.UTC(2026, 0, 2, 3, 4, 5, 6)))).toEqual({
      time: '2026-01-02T03:04:05.006Z',
      ...{ method: r.method, path: r.path, lane: r.lane, app: r.app, priority: r.priority },
      ...{ outcome: r.outcome, status: r.status, attempts: r.attempts },
      queued_ms: 12,
      duration_ms: 176,
    });
  });

  it('leaves out lane, app and priority when the record has none', () => {
    const { lane: _lane, app: _app, priority: _priority, ...bare } = record({ outcome: 'passthrough' });
    const line = JSON.parse(logLine(bare, 0)) as Record<string, unknown>;
    expect(Object.keys(line)).toEqual([
      'time',
      'method',
      'path',
      'outcome',
      'status',
      'queued_ms',
      'attempts',
      'duration_ms',
    ]);
  });

  it('escapes quotes, backslashes, control and non-ASCII characters in strings', () => {
    const path = '/v1/x"y\\z\n\u0001é';
    expect((JSON.parse(logLine(record({ path }), 0)) as { path: string }).path).toBe(path);
  });

  it('never writes the tokens, times to first byte or upstream times of the record', () => {
    expect(logLine(record({ tokens: 77 }), 0)).not.toMatch(/tokens|ttfb|upstream/);
  });
});

describe('requestLog', () => {
  it('writes the lines of one turn in one write, in order', async () => {
    const writes: string[] = [];
    const log = requestLog(
      (text) => writes.push(text),
      () => 0,
    );
    log.onRequest(record({ status: 200 }));
    log.onRequest(record({ status: 429 }));
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    const lines = writes[0]!.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => (JSON.parse(l) as { status: number }).status)).toEqual([200, 429]);
  });

  it('flush writes what is queued at once, and nothing twice', async () => {
    const writes: string[] = [];
    const log = requestLog(
      (text) => writes.push(text),
      () => 0,
    );
    log.onRequest(record());
    log.flush();
    expect(writes).toHaveLength(1);
    await new Promise((resolve) => setImmediate(resolve));
    log.flush();
    expect(writes).toHaveLength(1);
  });
});

describe('logLine time', () => {
  it('is what toISOString writes, for any millisecond', () => {
    const times = [
      0,
      5,
      42,
      999,
      1_000,
      Date.UTC(2026, 11, 2, 23, 59, 59, 7),
      Date.UTC(2027, 0, 1),
      1_733_000_000_123.6,
    ];
    for (const at of times) {
      const { time } = JSON.parse(logLine(record(), at)) as { time: string };
      expect(time).toBe(new Date(Math.floor(at)).toISOString());
    }
  });
});
