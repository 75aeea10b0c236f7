/**
 * Part 2 of `bench:gateway`: where `sluice serve`'s CPU time goes. The gateway runs as in part 1 but
 * under `node --cpu-prof`, first at a fixed rate and then at peak; on SIGTERM it drains, exits and V8
 * writes the profile, summarized here as self time per function and per area of the code.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, closedLoop, openLoop } from './http-load.js';
import { startMockProcess, startServeProcess, UNLIMITING } from './gateway-latency.js';
import { summarizeProfile } from './cpuprofile.js';
import { cpuSeconds } from './procs.js';
import { fmt, pct } from './stats.js';
import { table } from './table.js';

export interface ProfileOptions {
  /** Seconds of load (half at `rate`, half at `inFlight` in flight). */
  seconds: number;
  rate: number;
  inFlight: number;
  placement: { generator: string; proxy: string } | undefined;
  /** Functions listed. */
  top: number;
  /** Where to keep the `.cpuprofile` (for Chrome DevTools); by default it is deleted. */
  keep?: string | undefined;
}

export async function benchProfile(o: ProfileOptions): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gateway-prof-'));
  const mock = await startMockProcess(UNLIMITING, o.placement?.generator);
  try {
    const serve = await startServeProcess(mock.origin, o.placement?.proxy, {
      node: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100'],
    });
    const client = new Client(
      {
        origin: serve.origin,
        path: '/v1/chat/completions',
        headers: { authorization: 'Bearer sk-bench-gateway', 'content-type': 'application/json' },
        body: Buffer.from(
          JSON.stringify({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: 'Say hello.' }],
            max_tokens: 16,
          }),
        ),
      },
      256,
    );
    // An idle second between start-up and load: the summary counts only what comes after it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const cpu0 = cpuSeconds(serve.pid) ?? NaN;
    const atRate = await openLoop(client, o.rate, o.seconds / 2);
    const peak = await closedLoop(client, o.inFlight, o.seconds / 2);
    const cpu = (cpuSeconds(serve.pid) ?? NaN) - cpu0;
    client.close();
    const code = await serve.stop(15_000);
    if (code !== 0)
      throw new Error(`sluice serve exited with ${code}; no profile. Output:\n${serve.output()}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`sluice serve wrote no .cpuprofile into ${dir}.`);
    if (o.keep) copyFileSync(join(dir, file), o.keep);
    const summary = summarizeProfile(join(dir, file), 700);
    const requests = atRate.answered + peak.answered;
    const share = (us: number) => pct(us / summary.busy, 1);
    const perRequest = (us: number) => fmt(us / requests, 1);
    return [
      `\`sluice serve\` (built CLI) under \`node --cpu-prof --cpu-prof-interval 100\` against \`sluice mock\`, ${fmt(o.seconds / 2)} s at ${fmt(o.rate)} requests/s, then ${fmt(o.seconds / 2)} s with ${o.inFlight} in flight: ${fmt(requests)} requests (${fmt(peak.latencies.length / (peak.ms / 1000))} req/s at peak, under the profiler), ${fmt((cpu / requests) * 1e6, 0)} µs of gateway CPU per request (from /proc), ${fmt(summary.busy / 1000)} ms of busy samples after start-up (idle left out).`,
      '',
      'Self time by area of the code:',
      '',
      table(
        [
          'area',
          { title: 'self ms', align: 'right' },
          { title: 'share', align: 'right' },
          { title: 'µs/req', align: 'right' },
        ],
        summary.areas
          .slice(0, 14)
          .map((a) => [a.name, fmt(a.self / 1000), share(a.self), perRequest(a.self)]),
      ),
      '',
      `Top ${o.top} functions by self time:`,
      '',
      table(
        [
          'function',
          { title: 'self ms', align: 'right' },
          { title: 'share', align: 'right' },
          { title: 'µs/req', align: 'right' },
        ],
        summary.functions
          .slice(0, o.top)
          .map((f) => [f.name, fmt(f.self / 1000), share(f.self), perRequest(f.self)]),
      ),
    ].join('\n');
  } finally {
    await mock.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
