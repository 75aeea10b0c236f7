/**
 * Garbage collections of one proxy under load: the proxy runs under `node --trace-gc`, 64 requests in
 * flight for 2 s of warm-up and 4 s measured, against `sluice mock`; prints its young (scavenge) and
 * full (mark-compact) collections, requests per second and CPU per request. Pinned as in
 * `bench:gateway` part 1 when `taskset` is there.
 *
 *   npx tsx bench/gateway-gc.ts bare|node|serve [--cli other/dist/cli/main.js] [--node-flags "--no-allocation-site-pretenuring"]
 *
 * `bare`: the bare proxy on the gateway's stack; `node`: on `node:http` both ways; `serve`: the built
 * `sluice serve` (`--log off`), or another build's with `--cli`. Build first (`npm run build`).
 */
import { BODY, CLI, HEADERS, startBareProxy, startMockProcess } from './lib/gateway-latency.js';
import { Client, closedLoop } from './lib/http-load.js';
import { canPin, cpuSeconds, startProcess } from './lib/procs.js';

const [first, ...rest] = process.argv.slice(2);
let which = first;
let cli = CLI;
let nodeFlags: string[] = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--cli' && rest[i + 1]) cli = rest[++i]!;
  else if (rest[i] === '--node-flags' && rest[i + 1]) nodeFlags = rest[++i]!.split(/\s+/).filter(Boolean);
  else which = undefined;
}
if (which !== 'bare' && which !== 'node' && which !== 'serve') {
  process.stderr.write(
    'usage: npx tsx bench/gateway-gc.ts bare|node|serve [--cli other/dist/cli/main.js] [--node-flags "..."]\n',
  );
  process.exit(2);
}

const pin = canPin();
const mock = await startMockProcess(['--rpm', '1000000000', '--tpm', '1000000000000'], pin ? '0' : undefined);
const node = ['--trace-gc', ...nodeFlags];
const cpus = pin ? '1' : undefined;
const proxy =
  which === 'serve'
    ? await startProcess({
        name: 'sluice serve',
        command: process.execPath,
        args: [...node, cli, 'serve', '--port', '0', '--upstream', `${mock.origin}/v1`, '--log', 'off'],
        cpus,
        ready: { pattern: /listening on http:\/\/127\.0\.0\.1:(\d+)/ },
      })
    : await startBareProxy(mock.origin, cpus, node, which === 'node');
try {
  const client = new Client(
    { origin: proxy.origin, path: '/v1/chat/completions', headers: HEADERS, body: BODY },
    256,
  );
  await closedLoop(client, 64, 2);
  const warm = proxy.output();
  const before = cpuSeconds(proxy.pid)!;
  const result = await closedLoop(client, 64, 4);
  const cpu = cpuSeconds(proxy.pid)! - before;
  const measured = proxy.output().slice(warm.length);
  const count = (pattern: RegExp) => (measured.match(pattern) ?? []).length;
  const pauses = [...measured.matchAll(/Mark-Compact[^,]*, ([\d.]+) \//g)].map((m) => Number(m[1]));
  process.stdout.write(
    `${which}${cli === CLI ? '' : ` (${cli})`}${nodeFlags.length ? ` ${nodeFlags.join(' ')}` : ''}: ` +
      `${Math.round(result.answered / (result.ms / 1000))} req/s, ${Math.round((cpu / result.answered) * 1e6)} µs CPU/req, ` +
      `${count(/Scavenge/g)} young and ${count(/Mark-Compact/g)} full collections in 4 s` +
      (pauses.length ? ` (full: ${pauses.map((p) => p.toFixed(1)).join(', ')} ms)` : '') +
      '\n',
  );
} finally {
  await proxy.stop();
  await mock.stop();
}
