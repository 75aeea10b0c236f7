import { describe, expect, it } from 'vitest';
import type { LaneStats } from '../../engine/lane.js';
import type { SluiceEvent } from '../../engine/events.js';
import type { RequestRecord } from '../context.js';
import { laneMode } from './mode.js';
import { redact } from './mode.js';
import { Tracker } from './tracker.js';

const LANE = 'http://up|0123456789abcdef|gpt-4o-mini';
const T0 = 1_700_000_000_000;
const gateway = { version: 'test', upstream: 'http://up/v1', startedAt: T0, virtualKeys: false };

function tracker(): Tracker {
  return new Tracker({ historySeconds: 900, maxLanes: 10, startedAt: T0 });
}

function stats(over: Partial<LaneStats> = {}): LaneStats {
  return {
    lane: LANE,
    model: 'gpt-4o-mini',
    upstream: 'http://up',
    queued: 0,
    queuedByPriority: { interactive: 0, default: 0, batch: 0 },
    inFlight: 0,
    mode: { kind: 'open' },
    tripped: false,
    cooldownUntil: 0,
    buckets: [
      { id: 'r', dimension: 'requests', limit: 500, windowMs: 60_000, capacity: 500, level: 3 },
      { id: 't', dimension: 'tokens', limit: 200_000, windowMs: 60_000, capacity: 200_000, level: 90 },
    ],
    ...over,
  };
}

const base = { lane: LANE };
const admitted = (id: number, at: number, tokens = 10): SluiceEvent => ({
  ...base,
  type: 'admitted',
  id,
  at,
  waitedMs: 0,
  tokens,
});

function record(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    method: 'POST',
    path: '/v1/chat/completions',
    lane: LANE,
    priority: 'default',
    outcome: 'success',
    status: 200,
    queuedMs: 0,
    attempts: 1,
    durationMs: 5,
    ttfbMs: 4,
    upstreamMs: 3,
    ...over,
  };
}

describe('Tracker', () => {
  it('shows and charts the queue depth by priority that the engine reports', () => {
    const t = tracker();
    const waiting = stats({ queued: 3, queuedByPriority: { interactive: 1, default: 0, batch: 2 } });
    t.onEvent(admitted(1, T0 + 10));
    t.sample([waiting], T0 + 1_000);
    const lane = t.snapshot([waiting], T0 + 1_500, gateway, []).lanes[0]!;
    expect(lane.queue.batch.depth).toBe(2);
    expect(lane.queue.interactive.depth).toBe(1);
    expect(lane.series.queued.batch.at(-1)).toBe(2);
  });

  it('charts tokens per minute as the estimate at admission corrected by settlement', () => {
    const t = tracker();
    t.onEvent(admitted(1, T0 + 1_000, 100));
    t.onEvent({ ...base, type: 'settled', id: 1, at: T0 + 2_000, estimatedTokens: 100, actualTokens: 40 });
    t.onEvent(admitted(2, T0 + 3_000, 50));
    const lane = t.snapshot([stats()], T0 + 3_500, gateway, []).lanes[0]!;
    expect(lane.series.tokensPerMinute).toEqual([0, 100, 40, 90]);
    expect(lane.series.requestsPerMinute).toEqual([0, 1, 1, 2]);
    expect(lane.tokensPerMinute).toBe(90);
    expect(lane.requestsPerMinute).toBe(2);
    expect(lane.limits).toEqual({ rpm: 500, tpm: 200_000 });
    expect(lane.series.rpmLimit.at(-1)).toBe(500);
  });

  it('counts 429s, retries and errors per lane and in the totals', () => {
    const t = tracker();
    t.onEvent({ ...base, type: 'rate_limited', id: 1, at: T0, attempt: 1, waitMs: 100, perDay: false });
    t.onEvent({ ...base, type: 'retried', id: 1, at: T0, attempt: 1, delayMs: 10, reason: 'transient' });
    t.onRecord(record({ status: 502, outcome: 'upstream_error' }), T0);
    t.onRecord(record(), T0);
    const snap = t.snapshot([stats()], T0 + 500, gateway, []);
    expect(snap.lanes[0]!.rateLimited).toEqual({ total: 1, last15m: 1, lastMinute: 1 });
    expect(snap.lanes[0]!.retries.total).toBe(1);
    expect(snap.lanes[0]!.errors.total).toBe(1);
    expect(snap.totals).toMatchObject({ requests: 2, errors: 1, rateLimited: 1, retries: 1, errors5m: 1 });
  });

  it('reports admission wait by priority from the requests sent in the last minute', () => {
    const t = tracker();
    t.onRecord(record({ priority: 'batch', queuedMs: 100 }), T0);
    t.onRecord(record({ priority: 'batch', queuedMs: 300 }), T0 + 10);
    t.onRecord(record({ priority: 'batch', queuedMs: 900, attempts: 0, status: 429 }), T0 + 20);
    const lane = t.snapshot([stats()], T0 + 100, gateway, []).lanes[0]!;
    expect(lane.queue.batch).toEqual({ depth: 0, sentLastMinute: 2, waitAvgMs: 200, waitMaxMs: 300 });
  });

  it('lists configured apps with zero usage, and counts requests, errors and reported tokens per app', () => {
    const t = tracker();
    t.onRecord({ ...record({ app: 'checkout' }), tokens: 42 } as RequestRecord, T0);
    t.onRecord(record({ app: 'checkout', status: 429, outcome: 'queue_full' }), T0);
    const apps = t.snapshot([stats()], T0 + 100, gateway, [
      { name: 'checkout', priority: 'interactive' },
      { name: 'reports', priority: 'batch' },
    ]).apps;
    expect(apps).toEqual([
      {
        name: 'checkout',
        priority: 'interactive',
        requests: 2,
        requestsPerMinute: 2,
        tokens: 42,
        errors: 1,
        errors15m: 1,
      },
      {
        name: 'reports',
        priority: 'batch',
        requests: 0,
        requestsPerMinute: 0,
        tokens: null,
        errors: 0,
        errors15m: 0,
      },
    ]);
  });

  it('shows a tripped lane with the engine’s reason and next probe, anything key-shaped redacted', () => {
    const t = tracker();
    const mode = {
      kind: 'tripped' as const,
      reason: 'Incorrect key sk-proj-abc123XYZ789 or quota.',
      probeAt: T0 + 60_000,
    };
    const shown = t.snapshot([stats({ tripped: true, mode })], T0 + 1000, gateway, []).lanes[0]!.mode;
    expect(shown).toEqual({
      kind: 'tripped',
      reason: 'Incorrect key [redacted] or quota.',
      probeAt: T0 + 60_000,
    });
  });

  it('starts the series when the gateway started, at most the history back', () => {
    const t = tracker();
    const snap = t.snapshot([stats()], T0 + 4_200, gateway, []);
    expect(snap.time).toEqual({ startMs: T0, stepMs: 1000, points: 5 });
    const later = t.snapshot([stats()], T0 + 2_000_000, gateway, []);
    expect(later.time.points).toBe(900);
  });
});

describe('laneMode', () => {
  it('is the engine’s mode of the lane', () => {
    expect(laneMode(stats({ mode: { kind: 'cooling', until: T0 + 500 } }))).toEqual({
      kind: 'cooling',
      until: T0 + 500,
    });
    expect(laneMode(stats({ mode: { kind: 'probing', reason: 'start' } }))).toEqual({
      kind: 'probing',
      reason: 'start',
    });
  });
});

describe('redact', () => {
  it('removes key-shaped strings from messages shown on the dashboard', () => {
    expect(redact('Incorrect API key provided: sk-proj-abc123XYZ789. Check it.')).toBe(
      'Incorrect API key provided: [redacted]. Check it.',
    );
  });
});
