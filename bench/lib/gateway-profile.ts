/**
 * Part 2 of `bench:gateway`: where `sluice serve`'s CPU time goes. The bare proxy and the gateway run
 * as in part 1, one after the other, under `node --cpu-prof`, first at a fixed rate and then at peak;
 * on SIGTERM each exits and V8 writes its profile. The summary: self time per area of the code, both
 * side by side (what the gateway adds to the HTTP stack it shares with the bare proxy), and the
 * gateway's top functions.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeProfile, type ProfileSummary } from './cpuprofile.js';
import { startBareProxy, startMockProcess, startServeProcess, UNLIMITING } from './gateway-latency.js';
import { Client, closedLoop, openLoop } from './http-load.js';
import { cpuSeconds, type Started } from './procs.js';
import { fmt, pct } from './stats.js';
import { table } from './table.js';

export interface ProfileOptions {
  /** Seconds of load per process (half at `rate`, half at `inFlight` in flight). */
  seconds: number;
  rate: number;
  inFlight: number;
  placement: { generator: string; proxy: string } | undefined;
  /** Functions listed. */
  top: number;
  /**
   * Where to keep the gateway's `.cpuprofile` (for Chrome DevTools; the bare proxy's goes beside it as
   * `….bare.cpuprofile`); by default both are deleted.
   */
  keep?: string | undefined;
}

interface Profiled {
  summary: ProfileSummary;
  requests: number;
  /** CPU µs per request from /proc (profiler overhead included). */
  cpuPerRequest: number;
  peakRps: number;
}

const BODY = Buffer.from(
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 16,
  }),
);

async function profile(
  start: (node: string[]) => Promise<Started>,
  o: ProfileOptions,
  keep: string | undefined,
): Promise<Profiled> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gateway-prof-'));
  try {
    const server = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100']);
    const client = new Client(
      {
        origin: server.origin,
        path: '/v1/chat/completions',
        headers: { authorization: 'Bearer sk-bench-gateway', 'content-type': 'application/json' },
        body: BODY,
      },
      256,
    );
    // An idle second between start-up and load: the summary counts only what comes after it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const cpu0 = cpuSeconds(server.pid) ?? NaN;
    const atRate = await openLoop(client, o.rate, o.seconds / 2);
    const peak = await closedLoop(client, o.inFlight, o.seconds / 2);
    const cpu = (cpuSeconds(server.pid) ?? NaN) - cpu0;
    client.close();
    const code = await server.stop(15_000);
    if (code !== 0)
      throw new Error(`${server.name} exited with ${code}; no profile. Output:\n${server.output()}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`${server.name} wrote no .cpuprofile into ${dir}.`);
    if (keep) copyFileSync(join(dir, file), keep);
    const requests = atRate.answered + peak.answered;
    return {
      summary: summarizeProfile(join(dir, file), 700),
      requests,
      cpuPerRequest: (cpu / requests) * 1e6,
      peakRps: peak.latencies.length / (peak.ms / 1000),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchProfile(o: ProfileOptions): Promise<string> {
  const mock = await startMockProcess(UNLIMITING, o.placement?.generator);
  try {
    const bare = await profile(
      (node) => startBareProxy(mock.origin, o.placement?.proxy, node),
      o,
      o.keep?.replace(/(\.cpuprofile)?$/, '.bare.cpuprofile'),
    );
    const serve = await profile(
      (node) => startServeProcess(mock.origin, o.placement?.proxy, { node }),
      o,
      o.keep,
    );
    const perRequest = (p: Profiled, us: number) => us / p.requests;
    const areaNames = [...new Set([...serve.summary.areas, ...bare.summary.areas].map((a) => a.name))];
    const selfOf = (p: Profiled, name: string) => p.summary.areas.find((a) => a.name === name)?.self ?? 0;
    const areaRows = areaNames
      .map((name) => ({
        name,
        bare: perRequest(bare, selfOf(bare, name)),
        serve: perRequest(serve, selfOf(serve, name)),
      }))
      .sort((a, b) => b.serve - a.serve)
      .filter((a) => a.serve >= 1 || a.bare >= 1)
      .map((a) => [
        a.name,
        fmt(a.bare, 1),
        fmt(a.serve, 1),
        `${a.serve >= a.bare ? '+' : '−'}${fmt(Math.abs(a.serve - a.bare), 1)}`,
      ]);
    const busy = (p: Profiled) => perRequest(p, p.summary.busy);
    areaRows.push([
      '**all busy samples**',
      fmt(busy(bare), 1),
      fmt(busy(serve), 1),
      `+${fmt(busy(serve) - busy(bare), 1)}`,
    ]);
    const describe = (name: string, p: Profiled) =>
      `${name}: ${fmt(p.requests)} requests, ${fmt(p.peakRps)} req/s at peak under the profiler, ${fmt(p.cpuPerRequest, 0)} µs CPU per request (from /proc)`;
    return [
      `Each process under \`node --cpu-prof --cpu-prof-interval 100\` against \`sluice mock\`, one after the other: ${fmt(o.seconds / 2)} s at ${fmt(o.rate)} requests/s, then ${fmt(o.seconds / 2)} s with ${o.inFlight} in flight; samples before the load (start-up) and idle samples left out. ${describe('Bare proxy', bare)}; ${describe('sluice serve', serve)}.`,
      '',
      "Self time per request by area of the code (µs; the profiler's own cost included):",
      '',
      table(
        [
          'area',
          { title: 'bare proxy', align: 'right' },
          { title: 'sluice serve', align: 'right' },
          { title: 'difference', align: 'right' },
        ],
        areaRows,
      ),
      '',
      `sluice serve, top ${o.top} functions by self time:`,
      '',
      table(
        [
          'function',
          { title: 'self ms', align: 'right' },
          { title: 'share', align: 'right' },
          { title: 'µs/req', align: 'right' },
        ],
        serve.summary.functions
          .slice(0, o.top)
          .map((f) => [
            f.name,
            fmt(f.self / 1000),
            pct(f.self / serve.summary.busy, 1),
            fmt(perRequest(serve, f.self), 1),
          ]),
      ),
    ].join('\n');
  } finally {
    await mock.stop();
  }
}
