/**
 * A histogram for the request path: an observation is a string key, a bucket search and three
 * additions, where prom-client's `Histogram.observe` validates and hashes its labels every time. It
 * registers itself like any prom-client metric (the registry asks each metric for its values at scrape
 * time) and prints exactly what a prom-client histogram prints: `_bucket{le=…}` (cumulative), `_sum`
 * and `_count` per label combination, `le` first.
 */
import type { Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';
import { labelKey, labelsOf } from './label-values.js';

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last slot is beyond the largest bound. */
  counts: number[];
  sum: number;
  count: number;
}

export class FastHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly #labelNames: readonly L[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly L[];
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = config.name;
    this.help = config.help;
    this.#labelNames = config.labelNames;
    this.#bounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** Counts `value` under the label values `values`, in the order of `labelNames`. */
  observe(values: readonly string[], value: number): void {
    if (!Number.isFinite(value)) return;
    const key = labelKey(values);
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels = labelsOf(this.#labelNames, values);
      series = { labels, counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push(value(bucket, { le }, s.labels, cumulative));
      });
      values.push(value(bucket, { le: '+Inf' }, s.labels, s.count));
      values.push(value(`${this.name}_sum`, {}, s.labels, s.sum));
      values.push(value(`${this.name}_count`, {}, s.labels, s.count));
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type as never,
      aggregator: this.aggregator,
      collect: () => undefined,
      values,
    });
  }

  reset(): void {
    this.#series.clear();
  }
}

/** One line's value, its own labels (`le`) first, then the series' (as prom-client's `sharedLabels`). */
function value(
  metricName: string,
  labels: Record<string, string | number>,
  shared: Record<string, string>,
  n: number,
): MetricValueWithName<string> {
  return { metricName, labels, sharedLabels: shared, value: n } as MetricValueWithName<string>;
}
