/**
 * The gateway's observer under a real load: the emulator behind a real gateway on 127.0.0.1, requests
 * that meet 429s (the gateway is told a higher limit than the emulator enforces) and 5xx (the emulator's
 * fault dice), then what /metrics, /api/stats and the dashboard say about it.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StatsSnapshot } from '../src/serve/observe/index.js';
import { chat, metric, startObserved, type Observed } from './support/observe.js';

const KEY = 'sk-observe-SECRET-4f9a1c2e7b';
const N = 30;

describe('the observer after a load through the gateway', () => {
  let o: Observed;
  let statuses: number[];
  let metrics: string;
  let stats: StatsSnapshot;

  beforeAll(async () => {
    // The emulator's clock stands still until every request of the load has reached it, so the burst
    // is overrun however slowly a busy machine delivers them (no refill in between); then it runs.
    const t0 = Date.now();
    let received = (): number => 0;
    let runningSince: number | undefined;
    const clock = {
      now: (): number => {
        if (runningSince === undefined) {
          if (received() < N) return t0;
          runningSince = Date.now();
        }
        return t0 + (Date.now() - runningSince);
      },
    };
    o = await startObserved({
      // 1200 RPM with a one-second burst: 20 at once; the gateway believes 6000 and learns nothing.
      mock: { rpm: 1200, tpm: 0, burstSeconds: 1, errorRate: 0.2, seed: 7, clock },
      gateway: {
        limits: { rpm: 6000 },
        engine: { learnLimits: false, retry: { baseDelayMs: 5, maxDelayMs: 20 } },
      },
    });
    received = () => o.mock.stats().received;
    statuses = await Promise.all(Array.from({ length: N }, () => chat(o.url, KEY)));
    metrics = await (await fetch(`${o.url}/metrics`)).text();
    stats = (await (await fetch(`${o.url}/api/stats`)).json()) as StatsSnapshot;
  });
  afterAll(() => o?.close());

  it('counts answered requests by outcome and code as the clients saw them', () => {
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThan(N / 2);
    expect(metric(metrics, 'sluice_requests_total', { outcome: 'success', code: '200' })).toBe(ok);
    expect(metric(metrics, 'sluice_requests_total')).toBe(N);
  });

  it('counts the upstream 429s and the transient retries per lane', () => {
    expect(
      metric(metrics, 'sluice_upstream_rate_limited_total', { per_day: 'false' }),
    ).toBeGreaterThanOrEqual(1);
    expect(metric(metrics, 'sluice_retries_total', { reason: 'transient' })).toBeGreaterThanOrEqual(1);
  });

  it('counts admitted attempts and tokens per lane, and exports the lane limit and mode as gauges', () => {
    const lane = stats.lanes[0]!.id;
    expect(metric(metrics, 'sluice_lane_admitted_requests_total', { lane })).toBeGreaterThanOrEqual(N);
    expect(metric(metrics, 'sluice_lane_admitted_tokens_total', { lane })).toBeGreaterThan(0);
    expect(metric(metrics, 'sluice_lane_limit', { lane, dimension: 'requests', window: 'minute' })).toBe(
      6000,
    );
    expect(metric(metrics, 'sluice_lane_mode', { lane })).toBe(1);
    expect(metric(metrics, 'sluice_queue_depth', { lane })).toBe(0);
  });

  it('observes time to first byte, added latency and admission wait for every LLM request', () => {
    expect(metric(metrics, 'sluice_ttfb_seconds_count', { kind: 'llm' })).toBe(N);
    const reachedUpstream = metric(metrics, 'sluice_added_latency_seconds_count', { kind: 'llm' });
    expect(reachedUpstream).toBe(N);
    // Sub-millisecond buckets exist, so the gateway's own overhead can be read.
    expect(metrics).toMatch(/sluice_added_latency_seconds_bucket\{le="0\.0001",kind="llm"\}/);
    expect(metric(metrics, 'sluice_admission_wait_seconds_count', { priority: 'default' })).toBe(
      statuses.filter((s) => s === 200).length,
    );
  });

  it('puts no API key in /metrics, /api/stats or the dashboard files', async () => {
    const page = await (await fetch(`${o.url}/dashboard`)).text();
    const script = await (await fetch(`${o.url}/dashboard/app.js`)).text();
    for (const text of [metrics, JSON.stringify(stats), page, script]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain('SECRET');
    }
    expect(stats.lanes[0]!.key).toMatch(/^[0-9a-f]{16}$/);
  });

  it('reports per-lane usage against the limit, 429s, retries and gateway totals in /api/stats', () => {
    const lane = stats.lanes[0]!;
    expect(lane.model).toBe('gpt-4o-mini');
    expect(lane.limits.rpm).toBe(6000);
    expect(lane.requestsPerMinute).toBeGreaterThanOrEqual(N);
    expect(lane.series.requestsPerMinute.at(-1)).toBe(lane.requestsPerMinute);
    expect(lane.series.requestsPerMinute).toHaveLength(stats.time.points);
    expect(lane.series.rpmLimit.at(-1)).toBe(6000);
    expect(lane.rateLimited.total).toBeGreaterThanOrEqual(1);
    expect(lane.retries.total).toBeGreaterThanOrEqual(1);
    expect(lane.mode.kind === 'open' || lane.mode.kind === 'cooling').toBe(true);
    expect(lane.queue.default.sentLastMinute).toBe(statuses.filter((s) => s === 200).length);
    expect(stats.totals.requests).toBe(N);
    expect(stats.totals.errors).toBe(statuses.filter((s) => s >= 400).length);
    expect(stats.totals.rateLimited).toBe(lane.rateLimited.total);
    expect(stats.totals.requestsPerMinute).toBe(lane.requestsPerMinute);
    expect(stats.gateway.upstream).toBe(o.mock.url);
  });

  it('serves the dashboard page, its script, its stylesheet and uPlot from the package', async () => {
    const page = await fetch(`${o.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    for (const asset of [
      '/dashboard/app.js',
      '/dashboard/app.css',
      '/dashboard/uplot.js',
      '/dashboard/uplot.css',
    ])
      expect(html).toContain(asset);
    const uplot = await fetch(`${o.url}/dashboard/uplot.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain('uPlot');
    expect((await fetch(`${o.url}/dashboard/nothing.js`)).status).toBe(404);
  });
});

describe('the observer on a tripped lane', () => {
  it('shows the lane as tripped by quota, with the reason and the next probe', async () => {
    const o = await startObserved({ mock: { quotaRequests: 1 } });
    try {
      expect(await chat(o.url, KEY)).toBe(200);
      expect(await chat(o.url, KEY)).toBe(429);
      const stats = (await (await fetch(`${o.url}/api/stats`)).json()) as StatsSnapshot;
      const mode = stats.lanes[0]!.mode;
      expect(mode.kind).toBe('tripped');
      if (mode.kind !== 'tripped') return;
      expect(mode.reason).toMatch(/quota/i);
      expect(mode.probeAt).toBeGreaterThan(stats.at);
      const text = await (await fetch(`${o.url}/metrics`)).text();
      expect(metric(text, 'sluice_lane_mode', { mode: 'tripped' })).toBe(1);
      expect(metric(text, 'sluice_lane_trips_total')).toBe(1);
      expect(metric(text, 'sluice_requests_total', { outcome: 'quota_exhausted', code: '429' })).toBe(1);
    } finally {
      await o.close();
    }
  });
});

describe('/api/stats as a Server-Sent Events stream', () => {
  let o: Observed;
  beforeAll(async () => {
    o = await startObserved({ observe: { intervalMs: 100, heartbeatMs: 200 } });
    await chat(o.url, KEY);
  });
  afterAll(() => o?.close());

  /** Opens the stream and collects what arrives until `enough` says stop; returns the text so far. */
  const open = (path: string, headers: Record<string, string>, enough: (text: string) => boolean) =>
    new Promise<{ text: string; type: string | undefined; close: () => void }>((resolve, reject) => {
      const req = request(`${o.url}${path}`, { headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (enough(text)) resolve({ text, type: res.headers['content-type'], close: () => req.destroy() });
        });
      });
      req.on('error', reject);
      req.end();
    });

  const snapshots = (text: string) =>
    [...text.matchAll(/^event: snapshot\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as StatsSnapshot);

  it('sends a snapshot every interval and a heartbeat, for Accept: text/event-stream', async () => {
    const stream = await open(
      '/api/stats',
      { accept: 'text/event-stream' },
      (t) => snapshots(t).length >= 3 && t.includes(': heartbeat'),
    );
    stream.close();
    expect(stream.type).toMatch(/^text\/event-stream/);
    const got = snapshots(stream.text);
    expect(got[0]!.lanes[0]!.requestsPerMinute).toBe(1);
    expect(got[2]!.at).toBeGreaterThan(got[0]!.at);
  });

  it('stops its loop when the client disconnects (no stream left open)', async () => {
    const a = await open('/api/stats?stream=1', {}, (t) => snapshots(t).length >= 1);
    const b = await open('/api/stats?stream=1', {}, (t) => snapshots(t).length >= 1);
    expect(o.observer.streams).toBe(2);
    a.close();
    await vi.waitFor(() => expect(o.observer.streams).toBe(1), { timeout: 5000 });
    b.close();
    await vi.waitFor(() => expect(o.observer.streams).toBe(0), { timeout: 5000 });
  });
});
