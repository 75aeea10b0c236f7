/* global process */
/**
 * Preloaded into a proxy under test (`node --import bench/lib/gc-observer.mjs …`) by part 4 of
 * `bench:gateway`: counts garbage collections by kind (their pauses, from `PerformanceObserver`) and
 * samples the event loop's delay. On SIGUSR2 it prints what it saw since the last SIGUSR2 as one line,
 * `gc-observer {json}`, on stderr, and starts over; so the benchmark reads exactly its measurement.
 */
import { writeSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'markCompact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakCallbacks',
};

// 1 ms sampling: one more timer in the process, which is why part 1 does not load this file.
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let pauses = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = KINDS[entry.detail?.kind] ?? 'other';
    (pauses[kind] ??= []).push(entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  const summary = {};
  for (const [kind, list] of Object.entries(pauses)) {
    summary[kind] = {
      count: list.length,
      totalMs: list.reduce((a, b) => a + b, 0),
      maxMs: Math.max(...list),
    };
  }
  // The histogram holds whole sampling intervals: what is beyond the 1 ms interval is the delay.
  const late = (ns) => Math.max(0, ns / 1e6 - 1);
  const report = { pauses: summary, loopDelay: { p99: late(delay.percentile(99)), max: late(delay.max) } };
  writeSync(2, `gc-observer ${JSON.stringify(report)}\n`);
  pauses = {};
  delay.reset();
});
