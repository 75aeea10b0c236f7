/* global process */
// One client process of the "many processes, one key" tests and benchmark: sends its share of a
// workload with the openai SDK to the base URL it is given, all at once, and prints a JSON summary.
// Usage: node client-process.mjs <baseURL> <requests> <maxRetries> [tag]
import OpenAI from 'openai';

const [base, count, retries, tag = String(process.pid)] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'sk-shared-key', baseURL: base, maxRetries: Number(retries) });
const started = Date.now();
const results = await Promise.allSettled(
  Array.from({ length: Number(count) }, (_, i) =>
    client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `process ${tag} question ${i}` }],
      max_tokens: 20,
    }),
  ),
);
const failed = results.filter((r) => r.status === 'rejected');
process.stdout.write(
  JSON.stringify({
    ok: results.length - failed.length,
    failed: failed.length,
    ms: Date.now() - started,
    errors: [...new Set(failed.map((f) => String(f.reason?.status ?? f.reason?.message)))],
  }) + '\n',
);
