import { describe, expect, it } from 'vitest';
import type { LaneStats } from '../../engine/lane.js';
import { GatewayMetrics } from './metrics.js';

const admitted = (lane: string) =>
  ({ type: 'admitted', lane, id: 1, at: 0, waitedMs: 0, tokens: 10 }) as const;

describe('GatewayMetrics', () => {
  it('gives at most maxLanes lanes their own label and counts the rest as other', async () => {
    const m = new GatewayMetrics({ maxLanes: 2, processMetrics: false });
    for (const model of ['a', 'b', 'c', 'd']) m.onEvent(admitted(`http://up|fp|${model}`));
    const text = await m.text();
    const lanes = [...text.matchAll(/^sluice_lane_admitted_requests_total\{lane="([^"]+)"\} (\d+)$/gm)];
    expect(lanes.map((x) => [x[1], x[2]])).toEqual([
      ['http://up|fp|a', '1'],
      ['http://up|fp|b', '1'],
      ['other', '2'],
    ]);
  });

  it('shows the store status it reads at each scrape', async () => {
    const m = new GatewayMetrics({ maxLanes: 2, processMetrics: false });
    let status = 'redis';
    m.watchStore(() => status);
    expect(await m.text()).toContain('sluice_store_status{status="redis"} 1');
    status = 'local-share';
    const text = await m.text();
    expect(text).toContain('sluice_store_status{status="local-share"} 1');
    expect(text).toContain('sluice_store_status{status="redis"} 0');
  });

  it('labels requests with an app only when the config names it', async () => {
    const m = new GatewayMetrics({ maxLanes: 10, processMetrics: false });
    const record = {
      method: 'POST',
      path: '/v1/chat/completions',
      outcome: 'success',
      status: 200,
      queuedMs: 0,
      attempts: 1,
      durationMs: 1,
      ttfbMs: 1,
      upstreamMs: 1,
    };
    m.onRecord({ ...record, app: 'checkout' }, new Set(['checkout']));
    m.onRecord({ ...record, app: 'gone-from-config' }, new Set(['checkout']));
    const text = await m.text();
    expect(text).toContain('sluice_requests_total{outcome="success",code="200",app="checkout"} 1');
    expect(text).toContain('sluice_requests_total{outcome="success",code="200",app=""} 1');
  });

  it('drops the gauges of lanes the engine no longer lists', async () => {
    const m = new GatewayMetrics({ maxLanes: 10, processMetrics: false });
    const lane: LaneStats = {
      lane: 'http://up|fp|a',
      model: 'a',
      upstream: 'http://up',
      queued: 0,
      inFlight: 0,
      queuedByPriority: { interactive: 0, default: 2, batch: 0 },
      mode: { kind: 'cooling', until: 5_000 },
      tripped: false,
      cooldownUntil: 5_000,
      buckets: [{ id: 'r', dimension: 'requests', limit: 60, windowMs: 60_000, capacity: 60, level: 4 }],
    };
    m.refresh([lane], 1_000);
    let text = await m.text();
    expect(text).toContain('sluice_lane_mode{lane="http://up|fp|a",mode="cooling"} 1');
    expect(text).toContain('sluice_lane_cooldown_seconds{lane="http://up|fp|a"} 4');
    expect(text).toContain('sluice_queue_depth{lane="http://up|fp|a",priority="default"} 2');
    expect(text).toContain('sluice_lane_level{lane="http://up|fp|a",dimension="requests",window="minute"} 4');
    m.refresh([], 2_000);
    text = await m.text();
    expect(text).not.toContain('http://up|fp|a');
  });
});
