import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from './fast-histogram.js';
import { PendingCounter } from './pending-counter.js';

describe('FastHistogram', () => {
  it("prints what prom-client's Histogram prints for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const config = {
      name: 'x_seconds',
      help: 'X.',
      labelNames: ['kind', 'app'] as const,
      buckets: [0.01, 0.1, 1],
    };
    const fast = new FastHistogram({ ...config, registers: [ours] });
    const reference = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
    const observations: [string, string, number][] = [
      ['llm', 'a', 0.005],
      ['llm', 'a', 0.01],
      ['llm', 'a', 0.5],
      ['llm', 'b', 7],
      ['passthrough', 'a', 0.05],
    ];
    for (const [kind, app, v] of observations) {
      fast.observe([kind, app], v);
      reference.observe({ kind, app }, v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('ignores values that are not finite numbers', async () => {
    const registry = new Registry();
    const h = new FastHistogram({
      name: 'y',
      help: 'Y.',
      labelNames: ['k'],
      buckets: [1],
      registers: [registry],
    });
    h.observe(['a'], Number.NaN);
    h.observe(['a'], Infinity);
    expect(await registry.metrics()).not.toContain('y_count');
  });
});

describe('PendingCounter', () => {
  it('adds up across scrapes, per label combination', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const config = { name: 'z_total', help: 'Z.', labelNames: ['outcome', 'code'] as const };
    const pending = new PendingCounter({ ...config, registers: [ours] });
    const reference = new Counter({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
    pending.inc(['success', '200']);
    pending.inc(['success', '200'], 2);
    reference.inc({ outcome: 'success', code: '200' }, 3);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    pending.inc(['success', '200']);
    pending.inc(['fatal', '400'], 4);
    reference.inc({ outcome: 'success', code: '200' });
    reference.inc({ outcome: 'fatal', code: '400' }, 4);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('z_total{outcome="success",code="200"} 4');
  });
});
