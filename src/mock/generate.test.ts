import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { completionCounts, embeddings, generate } from './generate.js';
import { isBadRequest, parseRequest, type ParsedRequest } from './request.js';

function chat(body: Record<string, unknown>): ParsedRequest {
  const r = parseRequest('chat', { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body });
  if (isBadRequest(r)) throw new Error(r.message);
  return r;
}

describe('generate', () => {
  it('is deterministic for a request and seed, and differs with the seed', () => {
    const r = chat({ max_tokens: 50 });
    const one = generate(r, 0, completionCounts(r, 0, 16));
    const two = generate(r, 0, completionCounts(r, 0, 16));
    expect(two).toEqual(one);
    const other = generate(r, 1, completionCounts(r, 1, 16));
    expect(other.choices[0]!.text).not.toBe(one.choices[0]!.text);
  });

  it('one piece per token, within 1..max, finish_reason length only at the request max', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 4 }),
        fc.string(),
        (max, n, content) => {
          const r = chat({ max_tokens: max, n, messages: [{ role: 'user', content }] });
          const counts = completionCounts(r, 3, 16);
          const g = generate(r, 3, counts);
          expect(g.choices).toHaveLength(n);
          let sum = 0;
          for (const c of g.choices) {
            expect(c.tokens).toBeGreaterThanOrEqual(1);
            expect(c.tokens).toBeLessThanOrEqual(max);
            expect(c.pieces).toHaveLength(c.tokens);
            expect(c.pieces.join('')).toBe(c.text);
            expect(c.finishReason).toBe(c.tokens === max ? 'length' : 'stop');
            sum += c.tokens;
          }
          expect(g.completionTokens).toBe(sum);
        },
      ),
    );
  });

  it('stays within the default max when the request names none, and never says length', () => {
    for (let i = 0; i < 50; i++) {
      const r = chat({ messages: [{ role: 'user', content: `q${i}` }] });
      const g = generate(r, 0, completionCounts(r, 0, 16));
      expect(g.completionTokens).toBeLessThanOrEqual(16);
      expect(g.choices[0]!.finishReason).toBe('stop');
    }
  });

  it('makes deterministic unit vectors', () => {
    const r = parseRequest('embeddings', { model: 'e', input: ['a', 'b'], dimensions: 8 });
    if (isBadRequest(r)) throw new Error(r.message);
    const [a, b] = embeddings(r, 0);
    expect(a).toHaveLength(8);
    expect(Array.from(a!).reduce((s, x) => s + x * x, 0)).toBeCloseTo(1, 5);
    expect(embeddings(r, 0)[0]).toEqual(a);
    expect(b).not.toEqual(a);
  });
});

describe('completionCounts: the generation cap', () => {
  it('keeps one answer within maxGenerated tokens over its choices, at least one per choice', () => {
    const request = (n: number, maxTokens: number) => chat({ n, max_tokens: maxTokens });
    for (const [n, max, cap] of [
      [1, 1_000_000_000, 4096],
      [3, 10_000, 30],
      [128, 50, 64],
    ] as const) {
      const counts = completionCounts(request(n, max), 0, 16, cap);
      expect(counts).toHaveLength(n);
      expect(counts.every((c) => c >= 1 && c <= Math.max(1, Math.floor(cap / n)))).toBe(true);
    }
    // Below the cap nothing changes.
    expect(completionCounts(request(2, 10), 5, 16, 4096)).toEqual(completionCounts(request(2, 10), 5, 16));
  });
});
