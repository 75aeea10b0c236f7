/**
 * Part 1 of `bench:gateway`: what a proxy in front of `sluice mock` adds to each request's latency at a
 * fixed arrival rate, and the most requests per second it carries, for a direct connection, a bare
 * pass-through proxy on the gateway's HTTP stack, `sluice serve` and the Portkey gateway, side by side
 * in one run (each in its own process, measured in interleaved rounds).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, closedLoop, openLoop, type LoadResult, type Target } from './http-load.js';
import { cpuSeconds, freePort, startProcess, type Started } from './procs.js';
import { fmt, pct, quantile, signed } from './stats.js';
import { table } from './table.js';

export interface LatencyOptions {
  /** Arrival rates of the latency measurement, requests/s; the targets are judged at the first. */
  rates: readonly number[];
  /** Seconds per target and round at that rate. */
  latencySeconds: number;
  /** In flight for the throughput measurement. */
  inFlight: number;
  /** Seconds per target and round of the throughput measurement. */
  peakSeconds: number;
  rounds: number;
  /** Seconds of load on each path before anything is measured: half closed loop, half at the first rate. */
  warmupSeconds: number;
  /** Cores for the emulator and the load generator, and for the proxy under test; undefined: no pinning. */
  placement: { generator: string; proxy: string } | undefined;
  /** Which proxies to measure (the direct connection is always measured). */
  proxies: readonly ProxyName[];
  /** Another build's CLI (`dist/cli/main.js` of another checkout), measured as one more `sluice serve` row. */
  baselineCli?: string | undefined;
}

/**
 * `socat` and `relay` are floors, not peers: TCP relays with no HTTP parsing (socat in C, forking per
 * connection; relay on `node:net`), which show what one more hop costs on the machine itself. `http` is
 * an experiment: the least an HTTP-aware proxy does, with a framing parser of its own on `node:net`
 * (`http-relay.ts`), to see what an HTTP layer cheaper than `node:http` would leave of the p99 budget.
 * `node` is the bare proxy on `node:http` both ways (its server and its client), as the gateway's
 * stack was before `Http1Server` and `Http1Client`.
 */
export const PROXIES = ['socat', 'relay', 'http', 'node', 'bare', 'sluice', 'portkey'] as const;
export type ProxyName = (typeof PROXIES)[number];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}dist/cli/main.js`;
const BARE = `${ROOT}bench/lib/bare-proxy.ts`;
const RELAY = `${ROOT}bench/lib/tcp-relay.ts`;
const HTTP_RELAY = `${ROOT}bench/lib/http-relay.ts`;
const PORTKEY = `${ROOT}node_modules/@portkey-ai/gateway/build/start-server.js`;

/** Limits far above anything sent: the emulator never refuses, but still sends its rate-limit headers. */
export const UNLIMITING = ['--rpm', '1000000000', '--tpm', '1000000000000'];

export const BODY = Buffer.from(
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 16,
  }),
);
export const HEADERS = { authorization: 'Bearer sk-bench-gateway', 'content-type': 'application/json' };

export async function startMockProcess(flags: readonly string[], cpus: string | undefined): Promise<Started> {
  return startProcess({
    name: 'sluice mock',
    command: process.execPath,
    args: [CLI, 'mock', '--port', '0', '--seed', '1', ...flags],
    cpus,
    ready: { pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/ },
  });
}

/** `sluice serve` as users run it: the built CLI, default flags (JSON request log on stdout). */
export async function startServeProcess(
  upstream: string,
  cpus: string | undefined,
  extra: { flags?: readonly string[]; node?: readonly string[]; cli?: string } = {},
): Promise<Started> {
  return startProcess({
    name: 'sluice serve',
    command: process.execPath,
    args: [
      ...(extra.node ?? []),
      extra.cli ?? CLI,
      'serve',
      '--port',
      '0',
      '--upstream',
      `${upstream}/v1`,
      ...(extra.flags ?? []),
    ],
    cpus,
    // The request log goes to /dev/null, as it would to a file: written, never read back.
    stdout: 'ignore',
    ready: { pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/ },
  });
}

/** The bare pass-through proxy (bare-proxy.ts) in its own process; `nodeStack`: on `node:http` both ways. */
export async function startBareProxy(
  upstream: string,
  cpus: string | undefined,
  node: readonly string[] = [],
  nodeStack = false,
): Promise<Started> {
  return startProcess({
    name: 'bare proxy',
    command: process.execPath,
    args: [...node, '--import', 'tsx', BARE, upstream, ...(nodeStack ? ['--stack', 'node:http'] : [])],
    cpus,
    ready: { pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/ },
  });
}

/** Whether `socat` is installed (Debian: `apt-get install socat`); its row is left out when not. */
function hasSocat(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Subject {
  name: string;
  /** The proxy's process (none for the direct connection). */
  server: Started | undefined;
  target: Target;
  client: Client;
  /** False where the process's CPU time misses the work (socat forks a process per connection). */
  cpuCounted: boolean;
}

async function startSubjects(mock: Started, o: LatencyOptions): Promise<Subject[]> {
  const cpus = o.placement?.proxy;
  const direct: Target = { origin: mock.origin, path: '/v1/chat/completions', headers: HEADERS, body: BODY };
  const subjects: Subject[] = [
    {
      name: 'direct to sluice mock',
      server: undefined,
      target: direct,
      client: new Client(direct, 256),
      cpuCounted: false,
    },
  ];
  const add = (name: string, server: Started, target: Partial<Target> = {}, cpuCounted = true) => {
    const t = { ...direct, origin: server.origin, ...target };
    subjects.push({ name, server, target: t, client: new Client(t, 256), cpuCounted });
  };
  if (o.proxies.includes('socat') && hasSocat()) {
    const port = await freePort();
    add(
      'TCP relay (socat)',
      await startProcess({
        name: 'socat',
        command: 'socat',
        args: [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${mock.port},nodelay`],
        cpus,
        ready: { port, path: '/' },
      }),
      {},
      false,
    );
  }
  /** A relay of `bench/lib/` in a process of its own, in front of the emulator. */
  const relay = (name: string, script: string) =>
    startProcess({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', script, mock.origin],
      cpus,
      ready: { pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/ },
    });
  if (o.proxies.includes('relay')) add('TCP relay (node:net)', await relay('TCP relay', RELAY));
  if (o.proxies.includes('http'))
    add('HTTP relay (node:net, own framing)', await relay('HTTP relay', HTTP_RELAY));
  if (o.proxies.includes('node'))
    add('bare proxy (node:http both ways)', await startBareProxy(mock.origin, cpus, [], true));
  if (o.proxies.includes('bare'))
    add('bare proxy (Http1Server + Http1Client)', await startBareProxy(mock.origin, cpus));
  if (o.proxies.includes('sluice')) add('sluice serve', await startServeProcess(mock.origin, cpus));
  if (o.baselineCli)
    add('sluice serve (baseline build)', await startServeProcess(mock.origin, cpus, { cli: o.baselineCli }));
  if (o.proxies.includes('portkey')) {
    const port = await freePort();
    add(
      'Portkey gateway 1.15',
      await startProcess({
        name: 'Portkey gateway',
        command: process.execPath,
        args: [PORTKEY, `--port=${port}`, '--headless'],
        cpus,
        ready: { port, path: '/' },
      }),
      {
        headers: {
          ...HEADERS,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${mock.origin}/v1`,
        },
      },
    );
  }
  return subjects;
}

interface Measured {
  latencies: number[];
  errors: Map<number, number>;
  answered: number;
  ms: number;
  /** CPU seconds of the proxy and of the emulator over the measurement. */
  proxyCpu: number;
  mockCpu: number;
}

const empty = (): Measured => ({
  latencies: [],
  errors: new Map(),
  answered: 0,
  ms: 0,
  proxyCpu: 0,
  mockCpu: 0,
});

async function measure(
  s: Subject,
  mock: Started,
  into: Measured,
  load: (c: Client) => Promise<LoadResult>,
): Promise<void> {
  const cpu0 = s.server ? cpuSeconds(s.server.pid) : 0;
  const mock0 = cpuSeconds(mock.pid);
  const r = await load(s.client);
  const cpu1 = s.server ? cpuSeconds(s.server.pid) : 0;
  const mock1 = cpuSeconds(mock.pid);
  for (const l of r.latencies) into.latencies.push(l);
  for (const [status, n] of r.errors) into.errors.set(status, (into.errors.get(status) ?? 0) + n);
  into.answered += r.answered;
  into.ms += r.ms;
  into.proxyCpu += (cpu1 ?? NaN) - (cpu0 ?? NaN);
  into.mockCpu += (mock1 ?? NaN) - (mock0 ?? NaN);
}

const errorsText = (m: Measured) =>
  m.errors.size === 0
    ? '0'
    : [...m.errors].map(([status, n]) => `${fmt(n)} × ${status === 0 ? 'conn. error' : status}`).join(', ');

/**
 * Warm-up: the path JIT-compiled and its sockets open before anything is measured, half closed loop and
 * half at `rate`. V8 keeps optimizing on background threads (which share the proxy's pinned core) for
 * about 10 s at 1,000 requests/s: a short warm-up measures the compiler along with the proxy.
 */
export async function warmUp(client: Client, rate: number, seconds: number): Promise<void> {
  await closedLoop(client, 16, seconds / 2);
  await openLoop(client, rate, seconds / 2);
}

export interface LatencyResult {
  text: string;
  /** Added p50 and p99 (ms) and peak share of the bare proxy for `sluice serve`, when measured. */
  sluice?: { addedP50: number; addedP99: number; peakShare: number | undefined };
}

export async function benchLatency(o: LatencyOptions): Promise<LatencyResult> {
  const mock = await startMockProcess(UNLIMITING, o.placement?.generator);
  let subjects: Subject[] = [];
  try {
    subjects = await startSubjects(mock, o);
    for (const s of subjects) await warmUp(s.client, o.rates[0]!, o.warmupSeconds);
    const atRates = o.rates.map(() => subjects.map(empty));
    const peak = subjects.map(empty);
    for (const [j, rate] of o.rates.entries()) {
      for (let r = 0; r < o.rounds; r++) {
        for (let k = 0; k < subjects.length; k++) {
          const i = (k + r) % subjects.length;
          await measure(subjects[i]!, mock, atRates[j]![i]!, (c) => openLoop(c, rate, o.latencySeconds));
        }
      }
    }
    for (let r = 0; r < o.rounds; r++) {
      for (let k = 0; k < subjects.length; k++) {
        const i = (k + r) % subjects.length;
        await measure(subjects[i]!, mock, peak[i]!, (c) => closedLoop(c, o.inFlight, o.peakSeconds));
      }
    }

    const p = (m: Measured, q: number) => quantile(m.latencies, q);
    const latencyRows = (atRate: Measured[]) =>
      subjects.map((s, i) => {
        const base = atRate[0]!;
        const m = atRate[i]!;
        const proxied = i > 0;
        return [
          s.name,
          fmt(m.latencies.length),
          fmt(p(m, 0.5), 3),
          fmt(p(m, 0.99), 3),
          proxied ? signed((p(m, 0.5) - p(base, 0.5)) * 1000, 0) : '–',
          proxied ? signed((p(m, 0.99) - p(base, 0.99)) * 1000, 0) : '–',
          s.cpuCounted ? fmt((m.proxyCpu / m.answered) * 1e6, 0) : '–',
          errorsText(m),
        ];
      });
    // The floor on the gateway's own stack (Http1Server, Http1Client upstream); else the node:http one.
    const own = subjects.findIndex((s) => s.name.startsWith('bare') && s.name.includes('Http1Client'));
    const bareIndex = own >= 0 ? own : subjects.findIndex((s) => s.name.startsWith('bare'));
    const rps = (m: Measured) => m.latencies.length / (m.ms / 1000);
    const peakRows = subjects.map((s, i) => {
      const m = peak[i]!;
      return [
        s.name,
        fmt(rps(m)),
        bareIndex === -1 ? '–' : pct(rps(m) / rps(peak[bareIndex]!), 0),
        fmt(p(m, 0.5), 2),
        fmt(p(m, 0.99), 2),
        s.cpuCounted ? pct(m.proxyCpu / (m.ms / 1000), 0) : '–',
        s.cpuCounted ? fmt((m.proxyCpu / m.answered) * 1e6, 0) : '–',
        pct(m.mockCpu / (m.ms / 1000), 0),
        errorsText(m),
      ];
    });

    const placement = o.placement
      ? `Placement (taskset): load generator and emulator on CPU ${o.placement.generator}, the proxy under test on CPU ${o.placement.proxy}.`
      : 'No CPU pinning (taskset not available or --no-pin).';
    const text = [
      `Emulator: \`sluice mock\` (built CLI, own process), limits far above the load (${UNLIMITING.join(' ')}), no latency; a small non-streaming chat completion (max_tokens 16). Each proxy in its own process; load generator: node:http keep-alive client in the benchmark's process. ${placement} ${o.rounds} interleaved rounds, after ${fmt(o.warmupSeconds)} s of warm-up on each path (half closed loop, half at ${fmt(o.rates[0]!)} requests/s).`,
      '',
      ...o.rates.flatMap((rate, j) => [
        `Latency at ${fmt(rate)} requests/s (open loop, ${fmt(o.latencySeconds)} s per target and round; from the request's start to the end of its body). "added" = the proxy's percentile minus the direct connection's; "proxy CPU" = the proxy process's user + system time per request, from /proc:`,
        '',
        table(
          [
            'path',
            { title: 'requests', align: 'right' },
            { title: 'p50 ms', align: 'right' },
            { title: 'p99 ms', align: 'right' },
            { title: 'added p50 µs', align: 'right' },
            { title: 'added p99 µs', align: 'right' },
            { title: 'proxy CPU µs/req', align: 'right' },
            { title: 'errors', align: 'right' },
          ],
          latencyRows(atRates[j]!),
        ),
        '',
      ]),
      '',
      `Peak throughput (closed loop, ${o.inFlight} in flight, ${fmt(o.peakSeconds)} s per target and round); "proxy CPU" 100% = one core:`,
      '',
      table(
        [
          'path',
          { title: 'req/s', align: 'right' },
          { title: 'vs bare proxy', align: 'right' },
          { title: 'p50 ms', align: 'right' },
          { title: 'p99 ms', align: 'right' },
          { title: 'proxy CPU', align: 'right' },
          { title: 'proxy CPU µs/req', align: 'right' },
          { title: 'emulator CPU', align: 'right' },
          { title: 'errors', align: 'right' },
        ],
        peakRows,
      ),
    ];
    const sluiceIndex = subjects.findIndex((s) => s.name === 'sluice serve');
    if (sluiceIndex === -1) return { text: text.join('\n') };
    const first = atRates[0]!;
    const m = first[sluiceIndex]!;
    const addedP50 = p(m, 0.5) - p(first[0]!, 0.5);
    const addedP99 = p(m, 0.99) - p(first[0]!, 0.99);
    const peakShare = bareIndex === -1 ? undefined : rps(peak[sluiceIndex]!) / rps(peak[bareIndex]!);
    const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
    text.push(
      '',
      `sluice serve targets (at ${fmt(o.rates[0]!)} requests/s): added p50 ≤ 0.3 ms: ${verdict(addedP50 <= 0.3)} (${signed(addedP50 * 1000, 0)} µs); added p99 ≤ 1 ms: ${verdict(addedP99 <= 1)} (${signed(addedP99 * 1000, 0)} µs); peak ≥ 70% of the bare proxy: ${peakShare === undefined ? 'not measured' : `${verdict(peakShare >= 0.7)} (${pct(peakShare, 0)})`}.`,
    );
    return { text: text.join('\n'), sluice: { addedP50, addedP99, peakShare } };
  } finally {
    for (const s of subjects) {
      s.client.close();
      await s.server?.stop();
    }
    await mock.stop();
  }
}
