/**
 * A prom-client counter fed in plain numbers: increments add up in a map keyed by the label values and
 * move into the counter when the registry is scraped (the counter's `collect`). An event then costs a
 * string key and an addition instead of prom-client's label validation and hashing. The map holds at
 * most one entry per label combination, whether or not anyone scrapes.
 */
import { Counter, type Registry } from 'prom-client';
import { labelKey, labelsOf } from './label-values.js';

export class PendingCounter<L extends string> {
  readonly #labelNames: readonly L[];
  readonly #pending = new Map<string, { labels: Record<L, string>; n: number }>();

  constructor(config: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    this.#labelNames = config.labelNames;
    const pending = this.#pending;
    new Counter<L>({
      ...config,
      collect() {
        for (const { labels, n } of pending.values()) this.inc(labels, n);
        pending.clear();
      },
    });
  }

  /** Adds `n` under the label values `values`, in the order of `labelNames`. */
  inc(values: readonly string[], n = 1): void {
    const key = labelKey(values);
    const entry = this.#pending.get(key);
    if (entry) entry.n += n;
    else this.#pending.set(key, { labels: labelsOf(this.#labelNames, values), n });
  }
}
