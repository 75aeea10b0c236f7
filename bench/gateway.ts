/**
 * `npm run bench:gateway`: `sluice serve` against its targets (issue "sluice serve", Benchmarks).
 *
 * 1. Added latency at 1,000 requests/s and peak throughput on loopback: a direct connection to
 *    `sluice mock`, two TCP relays with no HTTP parsing (socat when installed, and one on `node:net`:
 *    the floor of one more hop), a bare pass-through proxy on the gateway's HTTP stack, `sluice serve`
 *    and the Portkey gateway, each in its own process, side by side in one run.
 * 2. Where the gateway's time goes: the bare proxy and `sluice serve` under load with
 *    `node --cpu-prof`, self time per area of the code side by side, and the gateway's top functions.
 * 3. Goodput through the gateway against an emulator that must pace the workload: one client process,
 *    eight client processes sharing one key, and the same eight calling the emulator directly with the
 *    SDK's own retries.
 * 4. Where part 1's tail comes from: the bare proxy and `sluice serve` at 1,000 requests/s, with the
 *    garbage collector's pauses and the event loop's delay in each proxy over the same seconds.
 *
 * Options: `--part 1,2,3,4` (default all), `--quick` (shorter measurements and a smaller workload, to try
 * it out; docs/benchmarks.md quotes full runs), `--proxies socat,relay,http,node,bare,sluice,portkey` (part 1; default all),
 * `--no-pin` (do not pin processes to cores with taskset), `--profile-out <file>` (part 2: keep the
 * `.cpuprofile`, for Chrome DevTools), `--rates 1000,200` (part 1: the arrival rates of the latency
 * measurement; the targets are judged at the first; default 1000,200, with --quick 1000), `--warmup 20`
 * (parts 1 and 4: seconds of load on each path before measuring; default 20, with --quick 4),
 * `--node-flags "--max-semi-space-size=4"` (part 4: V8 flags for both proxies, to try them),
 * `--baseline-cli <other checkout>/dist/cli/main.js` (part 1: one more `sluice serve` row from another
 * build, for a change measured old against new in one run).
 * Runs the built CLI: `npm run bench:gateway` builds first.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { integerArg } from './lib/args.js';
import { benchGatewayGoodput } from './lib/gateway-goodput.js';
import { benchLatency, CLI, PROXIES, type ProxyName } from './lib/gateway-latency.js';
import { benchProfile } from './lib/gateway-profile.js';
import { benchTail } from './lib/gateway-tail.js';
import { canPin, loadAverage, pinSelf } from './lib/procs.js';
import { fmt } from './lib/stats.js';

interface Args {
  parts: Set<number>;
  quick: boolean;
  pin: boolean;
  proxies: ProxyName[];
  profileOut: string | undefined;
  rates: number[] | undefined;
  warmupSeconds: number | undefined;
  nodeFlags: string[];
  baselineCli: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    parts: new Set([1, 2, 3, 4]),
    quick: false,
    pin: true,
    proxies: [...PROXIES],
    profileOut: undefined,
    rates: undefined,
    warmupSeconds: undefined,
    nodeFlags: [],
    baselineCli: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--no-pin') args.pin = false;
    else if (arg === '--profile-out') args.profileOut = argv[++i];
    else if (arg === '--rates') {
      const value = argv[++i] ?? '';
      const rates = value.split(',').map(Number);
      if (rates.some((r) => !Number.isInteger(r) || r < 1 || r > 100_000)) {
        throw new Error(
          `Expected --rates to list requests/s from 1 to 100000, like "1000,200"; got "${value}".`,
        );
      }
      args.rates = rates;
    } else if (arg === '--warmup') {
      args.warmupSeconds = integerArg('--warmup', argv[++i], {
        min: 1,
        max: 600,
        unit: 'seconds',
        example: 20,
      });
    } else if (arg === '--part' || arg === '--parts') {
      const value = argv[++i] ?? '';
      const parts = value.split(',').map(Number);
      if (parts.some((p) => ![1, 2, 3, 4].includes(p))) {
        throw new Error(`Expected --part to list parts from 1 to 4, like "--part 1,3"; got "${value}".`);
      }
      args.parts = new Set(parts);
    } else if (arg === '--node-flags') {
      const value = argv[++i] ?? '';
      const flags = value.split(' ').filter((f) => f !== '');
      if (flags.length === 0 || flags.some((f) => !f.startsWith('--'))) {
        throw new Error(
          `Expected --node-flags to list Node.js or V8 flags, like "--max-semi-space-size=4"; got "${value}".`,
        );
      }
      args.nodeFlags = flags;
    } else if (arg === '--baseline-cli') {
      const value = argv[++i] ?? '';
      if (!existsSync(value))
        throw new Error(
          `Expected --baseline-cli to name another build's CLI, like ../old/dist/cli/main.js; "${value}" does not exist.`,
        );
      args.baselineCli = value;
    } else if (arg === '--proxies') {
      const value = argv[++i] ?? '';
      const names = value.split(',');
      const unknown = names.filter((n) => !(PROXIES as readonly string[]).includes(n));
      if (unknown.length > 0) {
        throw new Error(`Expected --proxies to list some of ${PROXIES.join(',')}; got "${value}".`);
      }
      args.proxies = names as ProxyName[];
    } else {
      throw new Error(
        `Unknown argument "${arg}". Use --part 1,2,3,4, --quick, --proxies ${PROXIES.join(',')}, --no-pin, --profile-out <file>, --rates 1000,200, --warmup 20, --node-flags "--max-semi-space-size=4", --baseline-cli <dist/cli/main.js>.`,
      );
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` first.');
  const cpus = os.cpus();
  // Two cores: the load generator (and the emulator, and the client processes) on one, the proxy
  // under test on the other, so that the proxy never waits for the load generator's core.
  const pinned = args.pin && cpus.length >= 2 && canPin();
  if (pinned) pinSelf('0');
  const placement = pinned ? { generator: '0', proxy: '1' } : undefined;
  console.log(
    `# bench:gateway — Node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, load average ${fmt(loadAverage() ?? NaN, 1)} at start${args.quick ? ' (--quick)' : ''}`,
  );

  if (args.parts.has(1)) {
    console.log('\n## 1. Added latency and peak throughput on loopback\n');
    const started = performance.now();
    const result = await benchLatency({
      rates: args.rates ?? (args.quick ? [1_000] : [1_000, 200]),
      latencySeconds: args.quick ? 2 : 5,
      warmupSeconds: args.warmupSeconds ?? (args.quick ? 4 : 20),
      inFlight: 64,
      peakSeconds: args.quick ? 2 : 4,
      rounds: args.quick ? 1 : 3,
      placement,
      proxies: args.proxies,
      baselineCli: args.baselineCli,
    });
    console.log(result.text);
    console.log(`\n(${fmt((performance.now() - started) / 1000, 1)} s)`);
  }

  if (args.parts.has(2)) {
    console.log("\n## 2. Where the gateway's time goes\n");
    const started = performance.now();
    console.log(
      await benchProfile({
        seconds: args.quick ? 4 : 10,
        inFlight: 64,
        rate: 1_000,
        placement,
        top: 25,
        keep: args.profileOut,
      }),
    );
    console.log(`\n(${fmt((performance.now() - started) / 1000, 1)} s)`);
  }

  if (args.parts.has(3)) {
    console.log('\n## 3. Goodput through the gateway\n');
    const started = performance.now();
    console.log(
      await benchGatewayGoodput({
        requests: args.quick ? 400 : 1_200,
        processes: 8,
        inFlight: 256,
        rpm: args.quick ? 1_500 : 3_000,
        tpm: args.quick ? 400_000 : 800_000,
        burstSeconds: 3,
        latencyMs: 30,
        seed: 42,
        promptChars: [100, 1_200],
        maxTokens: [16, 200],
        directRetries: 5,
        timeoutMs: 180_000,
        // Not pinned: at these rates the processes need little CPU, and on a shared machine a pinned
        // gateway waits for its one core while the other is free.
        placement: undefined,
      }),
    );
    console.log(`\n(${fmt((performance.now() - started) / 1000, 1)} s)`);
  }

  if (args.parts.has(4)) {
    console.log("\n## 4. Where part 1's tail comes from\n");
    const started = performance.now();
    console.log(
      await benchTail({
        rate: 1_000,
        seconds: args.quick ? 2 : 5,
        warmupSeconds: args.warmupSeconds ?? (args.quick ? 4 : 20),
        rounds: args.quick ? 1 : 3,
        placement,
        nodeFlags: args.nodeFlags,
      }),
    );
    console.log(`\n(${fmt((performance.now() - started) / 1000, 1)} s)`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
