/**
 * Part 4 of `bench:gateway`: where the tail of part 1's latency comes from. The bare proxy and `sluice
 * serve`, each with `gc-observer.mjs` preloaded, carry 1,000 requests/s as in part 1; beside each one's
 * latency percentiles, the garbage collector's pauses and the event loop's delay in the proxy over the
 * very same seconds. `nodeFlags` (V8's, e.g. `--max-semi-space-size=4`) go to both proxies.
 */
import { fileURLToPath } from 'node:url';
import {
  BODY,
  HEADERS,
  startBareProxy,
  startMockProcess,
  startServeProcess,
  UNLIMITING,
  warmUp,
} from './gateway-latency.js';
import { Client, openLoop, type Target } from './http-load.js';
import type { Started } from './procs.js';
import { fmt, pct, quantile } from './stats.js';
import { table } from './table.js';

const OBSERVER = fileURLToPath(new URL('./gc-observer.mjs', import.meta.url));

export interface TailOptions {
  rate: number;
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  placement: { generator: string; proxy: string } | undefined;
  nodeFlags: readonly string[];
}

interface Pauses {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** What gc-observer.mjs prints on SIGUSR2. */
interface Report {
  pauses: Record<string, Pauses>;
  loopDelay: { p99: number; max: number };
}

interface Measured {
  latencies: number[];
  /** Requests the load generator sent bunched with others (a late tick). */
  bunched: number;
  seconds: number;
  pauses: Map<string, Pauses>;
  /** The worst round's event-loop delay. */
  loopDelay: { p99: number; max: number };
}

/** Asks the observer in `server` for its report since the last ask; resolves with it. */
async function report(server: Started): Promise<Report> {
  const before = server.output().length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const line = /gc-observer (\{.*\})\n/.exec(server.output().slice(before));
    if (line) return JSON.parse(line[1]!) as Report;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${server.name} printed no gc-observer report within 2 s.`);
}

export async function benchTail(o: TailOptions): Promise<string> {
  const mock = await startMockProcess(UNLIMITING, o.placement?.generator);
  const node = ['--import', OBSERVER, ...o.nodeFlags];
  const servers: Started[] = [];
  try {
    servers.push(await startBareProxy(mock.origin, o.placement?.proxy, node));
    servers.push(await startServeProcess(mock.origin, o.placement?.proxy, { node }));
    const direct: Target = {
      origin: mock.origin,
      path: '/v1/chat/completions',
      headers: HEADERS,
      body: BODY,
    };
    const subjects = [
      { name: 'direct to sluice mock', server: undefined, client: new Client(direct, 256) },
      ...servers.map((server, i) => ({
        name: i === 0 ? 'bare proxy (Http1Server + Http1Client)' : 'sluice serve',
        server,
        client: new Client({ ...direct, origin: server.origin }, 256),
      })),
    ];
    for (const s of subjects) await warmUp(s.client, o.rate, o.warmupSeconds);
    const measured: Measured[] = subjects.map(() => ({
      latencies: [],
      bunched: 0,
      seconds: 0,
      pauses: new Map(),
      loopDelay: { p99: 0, max: 0 },
    }));
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < subjects.length; k++) {
        const i = (k + r) % subjects.length;
        const s = subjects[i]!;
        const m = measured[i]!;
        // On the direct path, the loop delay is that of `sluice serve` idle: the machine's own.
        const observed = s.server ?? servers[1]!;
        await report(observed);
        const load = await openLoop(s.client, o.rate, o.seconds);
        for (const l of load.latencies) m.latencies.push(l);
        m.bunched += load.bunched ?? 0;
        m.seconds += load.ms / 1000;
        const seen = await report(observed);
        m.loopDelay.p99 = Math.max(m.loopDelay.p99, seen.loopDelay.p99);
        m.loopDelay.max = Math.max(m.loopDelay.max, seen.loopDelay.max);
        if (!s.server) continue;
        for (const [kind, p] of Object.entries(seen.pauses)) {
          const sum = m.pauses.get(kind) ?? { count: 0, totalMs: 0, maxMs: 0 };
          m.pauses.set(kind, {
            count: sum.count + p.count,
            totalMs: sum.totalMs + p.totalMs,
            maxMs: Math.max(sum.maxMs, p.maxMs),
          });
        }
      }
    }
    const rows = subjects.map((s, i) => {
      const m = measured[i]!;
      const q = (x: number) => fmt(quantile(m.latencies, x), 3);
      const none = { count: 0, totalMs: 0, maxMs: 0 };
      const scavenge = m.pauses.get('scavenge') ?? none;
      const major = m.pauses.get('markCompact') ?? none;
      let pausedMs = 0;
      for (const p of m.pauses.values()) pausedMs += p.totalMs;
      const gc = (text: string) => (s.server ? text : '–');
      return [
        s.name,
        fmt(m.latencies.length),
        pct(m.bunched / m.latencies.length, 1),
        q(0.5),
        q(0.99),
        q(0.999),
        gc(fmt(scavenge.count / m.seconds, 1)),
        gc(`${fmt(scavenge.count ? scavenge.totalMs / scavenge.count : 0, 2)} / ${fmt(scavenge.maxMs, 2)}`),
        gc(`${fmt(major.count)} / ${fmt(major.maxMs, 2)}`),
        gc(fmt(pausedMs / m.seconds, 1)),
        `${fmt(m.loopDelay.p99, 2)} / ${fmt(m.loopDelay.max, 2)}${s.server ? '' : ' (idle gateway)'}`,
      ];
    });
    const flags = o.nodeFlags.length > 0 ? `node ${o.nodeFlags.join(' ')}` : "V8's defaults";
    return [
      `Each proxy with bench/lib/gc-observer.mjs preloaded (${flags}); ${o.rounds} interleaved rounds of ${o.seconds} s at ${fmt(o.rate)} requests/s, after ${o.warmupSeconds} s of warm-up on each path. GC pauses and the event-loop delay (beyond its 1 ms sampling; the worst round) are the proxy's own, over the same seconds as its latencies; on the direct path, the loop delay of \`sluice serve\` while it carries nothing. "Sent bunched": requests the load generator sent together with others, its 1 ms timer having fired late:`,
      '',
      table(
        [
          'path',
          { title: 'requests', align: 'right' },
          { title: 'sent bunched', align: 'right' },
          { title: 'p50 ms', align: 'right' },
          { title: 'p99 ms', align: 'right' },
          { title: 'p99.9 ms', align: 'right' },
          { title: 'scavenges/s', align: 'right' },
          { title: 'scavenge mean / max ms', align: 'right' },
          { title: 'mark-compacts / max ms', align: 'right' },
          { title: 'GC paused ms/s', align: 'right' },
          { title: 'loop delay p99 / max ms', align: 'right' },
        ],
        rows,
      ),
    ].join('\n');
  } finally {
    for (const s of servers) await s.stop();
    await mock.stop();
  }
}
