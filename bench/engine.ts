/**
 * `npm run bench:engine`: the engine's performance targets (DESIGN.md, "Performance targets").
 *
 * 1. Admission decisions per second in memory, beside `limiter` and `rate-limiter-flexible`.
 * 2. Per-request overhead of `createFetch()` over plain `fetch` against a loopback server.
 * 3. Goodput through the `openai` SDK against the emulator, beside the SDK's own retries.
 *
 * Options: `--part 1,2,3` (default all), `--quick` (smaller counts, for trying the benchmark out; the
 * numbers in docs/benchmarks.md come from full runs), `--timeline` (part 3: print Sluice's per-second
 * timeline even when its targets are met; it is always printed when one is missed), `--warmup 10000`
 * (part 2: requests per client and mode before measuring; default 10,000, with --quick 3,000: fewer
 * measure V8 still optimizing the code on its background threads).
 */
import os from 'node:os';
import { benchAdmission } from './lib/admission.js';
import { benchGoodput } from './lib/goodput.js';
import { integerArg } from './lib/args.js';
import { benchOverhead } from './lib/overhead.js';

interface Args {
  parts: Set<number>;
  quick: boolean;
  timeline: boolean;
  warmup: number | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    parts: new Set([1, 2, 3]),
    quick: false,
    timeline: false,
    warmup: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') args.quick = true;
    else if (arg === '--timeline') args.timeline = true;
    else if (arg === '--warmup') {
      args.warmup = integerArg('--warmup', argv[++i], {
        min: 0,
        max: 1_000_000,
        unit: 'requests',
        example: 10_000,
      });
    } else if (arg === '--part' || arg === '--parts') {
      const value = argv[++i] ?? '';
      const parts = value.split(',').map(Number);
      if (parts.length === 0 || parts.some((p) => ![1, 2, 3].includes(p))) {
        throw new Error(`Expected --part to list parts from 1 to 3, like "--part 1,2"; got "${value}".`);
      }
      args.parts = new Set(parts);
    } else {
      throw new Error(`Unknown argument "${arg}". Use --part 1,2,3, --quick, --timeline, --warmup 10000.`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cpus = os.cpus();
  console.log(
    `# bench:engine — Node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}${args.quick ? ' (--quick)' : ''}`,
  );

  if (args.parts.has(1)) {
    console.log('\n## 1. Admission decisions per second in memory\n');
    const started = performance.now();
    console.log(
      await benchAdmission(
        args.quick
          ? { n: 300_000, warmup: 100_000, repeats: 3 }
          : { n: 3_000_000, warmup: 500_000, repeats: 3 },
      ),
    );
    console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }

  if (args.parts.has(2)) {
    console.log('\n## 2. Per-request overhead of createFetch() over fetch\n');
    const started = performance.now();
    console.log(
      await benchOverhead(
        args.quick
          ? {
              sequential: 1_000,
              concurrent: 2_000,
              concurrency: 16,
              rounds: 4,
              warmup: args.warmup ?? 3_000,
              stub: 5_000,
            }
          : {
              sequential: 5_000,
              concurrent: 10_000,
              concurrency: 16,
              rounds: 10,
              warmup: args.warmup ?? 10_000,
              stub: 50_000,
            },
      ),
    );
    console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }

  if (args.parts.has(3)) {
    console.log('\n## 3. Goodput through the openai SDK against the emulator\n');
    const started = performance.now();
    console.log(
      await benchGoodput({
        requests: args.quick ? 150 : 500,
        inFlight: 64,
        rpm: 3_000,
        tpm: 600_000,
        burstSeconds: 3,
        latencyMs: 30,
        seed: 42,
        promptChars: [100, 2_000],
        maxTokens: [16, 400],
        timeoutMs: 90_000,
        timeline: args.timeline,
      }),
    );
    console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
