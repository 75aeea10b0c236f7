import { describe, expect, it } from 'vitest';
import { bar, formatBar, formatCompact, formatDuration, formatPlain } from './display.js';
import { ProgressTracker, type ProgressSnapshot } from './progress.js';

describe('formatting', () => {
  it('formats durations, counts and bars', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(41_230)).toBe('41.2s');
    expect(formatDuration(192_000)).toBe('3m12s');
    expect(formatDuration(7_500_000)).toBe('2h05m');
    expect(formatCompact(290_400)).toBe('290k');
    expect(formatCompact(12_345)).toBe('12.3k');
    expect(formatCompact(1_200_000)).toBe('1.2M');
    expect(bar(0.5, 4)).toBe('██  ');
    expect(bar(1 / 16, 2)).toBe('▏ ');
  });

  const snap: ProgressSnapshot = {
    elapsedMs: 10_000,
    total: 5000,
    done: 1234,
    succeeded: 1230,
    failed: 4,
    bad: 0,
    skipped: 0,
    notAttempted: 0,
    inFlight: 100,
    sent: 1240,
    tokensAdmitted: 100_000,
    requestsPerMin: 2950,
    tokensPerMin: 290_000,
    rpmLimit: 3000,
    tpmLimit: 300_000,
    etaMs: 72_000,
    rateLimited: 0,
    retries: 3,
  };

  it('draws a terminal line with done/total, rates against limits, ETA, 429s, retries, failures', () => {
    const line = formatBar(snap, 160);
    expect(line).toContain('24% 1,234/5,000');
    expect(line).toContain('2,950/3,000 rpm');
    expect(line).toContain('290k/300k tpm');
    expect(line).toContain('ETA 1m12s');
    expect(line).toContain('429s 0 · retries 3 · failed 4');
    expect(formatBar(snap, 40).length).toBeLessThan(40);
  });

  it('says when the total is unknown because the input is a pipe', () => {
    const piped = { ...snap, total: undefined, etaMs: undefined, streaming: true };
    expect(formatPlain(piped)).toMatch(/^sluice batch: 1,234\/\? lines \(reading a pipe: total unknown\),/);
    expect(formatBar(piped, 160)).toContain('1,234/? (pipe)');
  });

  it('writes a plain line, and a ? while the total is being counted', () => {
    expect(formatPlain({ ...snap, total: undefined, etaMs: undefined })).toBe(
      'sluice batch: 1,234/? lines, 2,950/3,000 rpm, 290,000/300,000 tpm, ETA ?, 429s 0, retries 3, failed 4',
    );
  });
});

describe('ProgressTracker', () => {
  it('counts rates over the last seconds from admitted events and an ETA from finished lines', () => {
    let now = 1_000_000;
    const t = new ProgressTracker(() => now);
    t.setTotal(100);
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i < 5; i++) {
        t.started();
        t.event({ type: 'admitted', at: now, lane: 'u|k|m', id: i, waitedMs: 0, tokens: 100 });
        t.line('succeeded', true);
      }
      now += 1000;
    }
    t.event({ type: 'rate_limited', at: now, lane: 'u|k|m', id: 1, attempt: 1, waitMs: 10, perDay: false });
    t.setLaneLimits('u|k|m', 600, undefined);
    const s = t.snapshot();
    expect(s.rpmLimit).toBe(600);
    expect(s.tpmLimit).toBeUndefined();
    expect(s.requestsPerMin).toBe(300);
    expect(s.tokensPerMin).toBe(30_000);
    expect(s.done).toBe(20);
    expect(s.etaMs).toBe(16_000);
    expect(s.rateLimited).toBe(1);
    expect(t.lanes()).toMatchObject([{ model: 'm', requests: 20, tokens: 2000 }]);
  });
});

describe('ProgressTracker and the limiter', () => {
  it('does not count attempts the server refused (429, too large) as admitted', () => {
    const now = 1_000_000;
    const t = new ProgressTracker(() => now);
    t.event({ type: 'admitted', at: now, lane: 'u|k|m', id: 1, waitedMs: 0, tokens: 5_000_011 });
    t.event({
      type: 'answered',
      at: now,
      lane: 'u|k|m',
      id: 1,
      attempt: 1,
      status: 429,
      outcome: 'request_too_large',
      latencyMs: 5,
    });
    t.event({ type: 'admitted', at: now, lane: 'u|k|m', id: 2, waitedMs: 0, tokens: 24 });
    t.event({
      type: 'answered',
      at: now,
      lane: 'u|k|m',
      id: 2,
      attempt: 1,
      status: 200,
      outcome: 'success',
      latencyMs: 5,
    });
    expect(t.lanes()).toMatchObject([{ requests: 1, tokens: 24 }]);
    const s = t.snapshot();
    expect(s.sent).toBe(2);
    expect(s.tokensAdmitted).toBe(24);
    expect(s.tokensPerMin).toBe(24 * 60);
  });

  it("shows the limiter's pace and a schedule ETA for a lane with work waiting, never more than the limit", () => {
    let now = 0;
    const t = new ProgressTracker(() => now);
    t.setTotal(100);
    for (let i = 0; i < 10; i++) {
      t.read();
      t.started();
      t.event({ type: 'admitted', at: now, lane: 'u|k|m', id: i, waitedMs: 0, tokens: 100 });
    }
    for (let i = 0; i < 5; i++) t.line('succeeded', true);
    t.setLaneSample('u|k|m', {
      at: now,
      buckets: [{ dimension: 'requests', limit: 60, windowMs: 60_000, capacity: 10, level: 10 }],
      cooldownUntil: 0,
      waiting: 5,
    });
    now = 500;
    const s = t.snapshot();
    // 10 admitted in half a second is the burst; the pace is the limit: 60 RPM.
    expect(s).toMatchObject({ requestsPerMin: 60, tokensPerMin: 6000, rpmLimit: 60, done: 5 });
    // 5 waiting + 90 unread = 95 requests at 1 per second, the bucket refilling since the sample.
    expect(s.etaMs).toBe(95_000 - 500);
  });
});
