/**
 * One client process of `bench:gateway` part 3: its share of the seeded workload through the `openai`
 * SDK, `inFlight` at a time. It prints `ready` once loaded and warmed up (`GET /v1/models`, `inFlight`
 * at once), starts when a line arrives on stdin, and prints one JSON line with its result.
 *
 *   node --import tsx bench/lib/goodput-client.ts '<json: ClientJob>'
 */
import { setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline';
import OpenAI from 'openai';
import { workload, type Job } from './goodput.js';

export interface ClientJob {
  baseURL: string;
  apiKey: string;
  /** Workload options (every process draws the same jobs and takes its share). */
  requests: number;
  seed: number;
  promptChars: [number, number];
  maxTokens: [number, number];
  /** This process takes the jobs whose index modulo `of` is `index`. */
  index: number;
  of: number;
  inFlight: number;
  maxRetries: number;
  timeoutMs: number;
}

export interface ClientResult {
  succeeded: number;
  failures: Record<string, number>;
  wallMs: number;
}

function describeError(err: unknown): string {
  if (err instanceof OpenAI.APIError)
    return `${err.status ?? 'no status'} ${err.code ?? err.type ?? ''}`.trim();
  if (err instanceof Error) return err.name;
  return String(err);
}

async function run(job: ClientJob, client: OpenAI, jobs: readonly Job[]): Promise<ClientResult> {
  const abort = new AbortController();
  setMaxListeners(jobs.length * 16, abort.signal);
  const guard = setTimeout(() => abort.abort(new Error('bench_timeout')), job.timeoutMs);
  const failures: Record<string, number> = {};
  let succeeded = 0;
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      try {
        await client.chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: j.prompt }], max_tokens: j.maxTokens },
          { signal: abort.signal },
        );
        succeeded++;
      } catch (err) {
        const code = abort.signal.aborted ? 'bench_timeout' : describeError(err);
        failures[code] = (failures[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.inFlight, jobs.length) }, worker));
  clearTimeout(guard);
  return { succeeded, failures, wallMs: performance.now() - start };
}

const job = JSON.parse(process.argv[2] ?? '{}') as ClientJob;
const client = new OpenAI({ apiKey: job.apiKey, baseURL: job.baseURL, maxRetries: job.maxRetries });
const jobs = workload(job).filter((_, i) => i % job.of === job.index);
// Before the start: `inFlight` GET /v1/models at once (not rate limited, and not LLM calls: a gateway
// passes them through), so that the process's first requests — compiling the SDK's request path and
// opening its connections, half a second for eight fresh processes on two cores — are not counted as
// the time of whatever the requests go through.
await Promise.all(Array.from({ length: Math.min(job.inFlight, jobs.length) }, () => client.models.list()));
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  lines.close();
  void run(job, client, jobs).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`));
});
