/**
 * Which prompt-token estimate keeps the local ledger closest to the server's?
 *
 * For a fixed set of prompts of different kinds, this sends each one to the emulator (which charges as
 * OpenAI documents: ceil(characters / 4) + max_tokens at admission) and compares what the server
 * charged with two estimates: the character rule (Sluice's default) and a real BPE tokenizer
 * (gpt-tokenizer, o200k_base: the gpt-4o family). It also prints how far the character rule is from
 * the BPE count, which is what `usage.prompt_tokens` reports afterwards.
 *
 * Run: npm run bench:tokens
 */
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { estimateCost } from '../src/engine/cost.js';
import { startMock } from '../src/mock/index.js';

const english =
  'The quarterly report shows that revenue grew by twelve percent, driven mostly by subscriptions in Europe and a strong holiday season. ';
const code = 'function add(a, b) {\n  return a + b; // sum\n}\nconst xs = [1, 2, 3].map((x) => add(x, 1));\n';
const json =
  '{"id": 1234, "name": "Widget", "tags": ["blue", "large"], "price": 19.99, "stock": {"eu": 3, "us": 17}}\n';
const german =
  'Die Donaudampfschifffahrtsgesellschaft veröffentlichte gestern ihren Jahresbericht für das Geschäftsjahr. ';
const japanese = '東京の天気は晴れで、気温は二十度まで上がる見込みです。週末は雨が降るかもしれません。';
const numbers = '3.14159 2.71828 1.41421 1.73205 2.23606 0.57721 1.61803 4.66920 ';

const kinds: Record<string, string> = { english, code, json, german, japanese, numbers };
const sizes = [1, 4, 16, 64];

const mock = await startMock({ tpm: 100_000_000, rpm: 1_000_000 });
const rows: string[][] = [
  ['kind', 'chars', 'server charged', 'chars/4 est.', 'BPE est.', 'chars/4 error', 'BPE error'],
];
let absChars = 0;
let absBpe = 0;
let total = 0;
for (const [kind, unit] of Object.entries(kinds)) {
  for (const n of sizes) {
    const content = unit.repeat(n);
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 1 };
    const before = mock.stats().tokens.charged;
    const res = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: JSON.stringify(body),
    });
    await res.text();
    const charged = mock.stats().tokens.charged - before;
    const byChars = estimateCost('/v1/chat/completions', body, { typicalCompletion: 0 });
    const byBpe = estimateCost('/v1/chat/completions', body, {
      typicalCompletion: 0,
      countTokens: (t) => encode(t).length,
    });
    const c = byChars.promptTokens + byChars.completionTokens;
    const b = byBpe.promptTokens + byBpe.completionTokens;
    absChars += Math.abs(c - charged);
    absBpe += Math.abs(b - charged);
    total += charged;
    rows.push([
      kind,
      String(content.length),
      String(charged),
      String(c),
      String(b),
      `${(((c - charged) / charged) * 100).toFixed(1)}%`,
      `${(((b - charged) / charged) * 100).toFixed(1)}%`,
    ]);
  }
}
await mock.close();

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((cell, i) => cell.padStart(widths[i]!)).join('  '));
console.log(
  `\nmean absolute error against the server's admission charge: chars/4 ${((absChars / total) * 100).toFixed(2)}%, BPE ${((absBpe / total) * 100).toFixed(2)}%`,
);
