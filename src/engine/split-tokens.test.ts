/**
 * Separate input- and output-token buckets (Anthropic's ITPM and OTPM): the prompt is charged as input
 * and the max completion as output at admission, both are settled to the actual usage, and both are
 * learned from `anthropic-ratelimit-{input,output}-tokens-*` headers.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { Engine } from './engine.js';
import { readBucket } from './learn.js';
import type { EngineOptions } from './options.js';
import type { AttemptResult, EngineRequest, Execution } from './request.js';

const lane = { upstream: 'http://up', keyFingerprint: 'k', model: 'claude' };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function req(prompt: number, max: number): EngineRequest {
  return { lane, cost: { promptTokens: prompt, completionTokens: max, n: 1, maxGiven: true } };
}

function ok(headers: Record<string, string> = {}): AttemptResult<string> {
  return { status: 200, headers, value: 'ok' };
}

function setup(options: EngineOptions = {}) {
  const clock = new ManualClock(T0);
  const engine = new Engine({ clock, random: () => 0.5, safetyMarginMs: 0, ...options });
  return { clock, engine };
}

async function sendAll(
  clock: ManualClock,
  engine: Engine,
  requests: EngineRequest[],
  after?: (execution: Execution<string>, i: number) => void,
): Promise<number[]> {
  const sentAt: number[] = [];
  const all = requests.map(async (r, i) => {
    const execution = await engine.execute(r, async () => {
      sentAt[i] = clock.now() - T0;
      return ok();
    });
    after?.(execution, i);
    execution.done();
  });
  await clock.runAll();
  await Promise.all(all);
  return sentAt;
}

describe('output-token buckets (OTPM)', () => {
  it('charges the max completion at admission and waits for the output bucket', async () => {
    const { clock, engine } = setup({ limits: { otpm: 3000 } });
    // Three maxes of 1000 fill the bucket; the fourth waits for 1000 tokens to drain at 50/s.
    const sentAt = await sendAll(
      clock,
      engine,
      [1, 2, 3, 4].map(() => req(10, 1000)),
    );
    expect(sentAt).toEqual([0, 0, 0, 20_000]);
  });

  it('refunds the output bucket what was not generated once the usage is known', async () => {
    const { clock, engine } = setup({ limits: { otpm: 3000 } });
    // Each answer generated 100 of its 1000: 900 come back, so the fourth fits at once.
    const sentAt = await sendAll(
      clock,
      engine,
      [1, 2, 3].map(() => req(10, 1000)),
      (execution) => execution.settle({ promptTokens: 10, completionTokens: 100, totalTokens: 110 }),
    );
    expect(sentAt).toEqual([0, 0, 0]);
    const [late] = await sendAll(clock, engine, [req(10, 1000)]);
    expect(late).toBe(0);
    const stats = await engine.stats();
    const output = stats[0]!.buckets.find((b) => b.dimension === 'outputTokens')!;
    expect(output.level).toBeCloseTo(1300);
  });

  it('keeps the max in the output bucket when settlement is none', async () => {
    const { clock, engine } = setup({ limits: { otpm: 3000 }, settlement: 'none' });
    await sendAll(
      clock,
      engine,
      [1, 2, 3].map(() => req(10, 1000)),
      (execution) => {
        expect(execution.wantsUsage).toBe(false);
        execution.settle({ promptTokens: 10, completionTokens: 100, totalTokens: 110 });
      },
    );
    const stats = await engine.stats();
    expect(stats[0]!.buckets.find((b) => b.dimension === 'outputTokens')!.level).toBeCloseTo(3000);
  });
});

describe('input-token buckets (ITPM)', () => {
  it('charges the prompt as input, not the max completion', async () => {
    const { clock, engine } = setup({ limits: { itpm: 1000 } });
    // 400 + 400 fit, the third 400 waits for 200 tokens to drain at 1000/60 per second.
    const sentAt = await sendAll(
      clock,
      engine,
      [1, 2, 3].map(() => req(400, 5000)),
    );
    expect(sentAt).toEqual([0, 0, 12_000]);
  });

  it('settles the input bucket to the prompt tokens the answer reports', async () => {
    const { clock, engine } = setup({ limits: { itpm: 1000 } });
    await sendAll(clock, engine, [req(400, 10)], (execution) => {
      expect(execution.wantsUsage).toBe(true);
      execution.settle({ promptTokens: 250, completionTokens: 3 });
    });
    const stats = await engine.stats();
    expect(stats[0]!.buckets.find((b) => b.dimension === 'inputTokens')!.level).toBeCloseTo(250);
  });
});

describe('learning input and output limits from Anthropic headers', () => {
  it('learns ITPM and OTPM with their RFC 3339 resets and paces by them', async () => {
    const { clock, engine } = setup();
    const headers = {
      'anthropic-ratelimit-input-tokens-limit': '60000',
      'anthropic-ratelimit-input-tokens-remaining': '60000',
      'anthropic-ratelimit-input-tokens-reset': '2026-01-01T00:00:00Z',
      'anthropic-ratelimit-output-tokens-limit': '6000',
      'anthropic-ratelimit-output-tokens-remaining': '5000',
      // 1000 of 6000 used: full again in 10 s.
      'anthropic-ratelimit-output-tokens-reset': '2026-01-01T00:00:10Z',
    };
    const sentAt: number[] = [];
    const all = [1, 2, 3, 4].map(async (i) => {
      const execution = await engine.execute(req(10, 2000), async () => {
        sentAt.push(clock.now() - T0);
        return ok(i === 1 ? headers : {});
      });
      execution.done();
    });
    await clock.runAll();
    await Promise.all(all);
    const stats = await engine.stats();
    const byDimension = Object.fromEntries(stats[0]!.buckets.map((b) => [b.dimension, b.limit]));
    expect(byDimension).toMatchObject({ inputTokens: 60_000, outputTokens: 6000 });
    // The first went before anything was known, charged its estimate (2000 output tokens) under the id
    // the learned bucket takes over; the server's 1000 does not lower it (no usage settles it here).
    // Two more maxes of 2000 fit beside it (6000 of 6000); the fourth waits until 2000 drain at 100/s.
    expect(sentAt).toEqual([0, 0, 0, 20_000]);
  });
});

describe('reading rounded Anthropic token buckets', () => {
  it('takes the limit as the capacity and the smaller bound as the level (regression: a rounded remaining was read as a burst of 1,166 of 2,000)', () => {
    // 150 of 2,000 used: remaining 1,850 is sent as 1,000; the reset, 4.5 s, as 5 s.
    expect(readBucket({ limit: 2000, remaining: 1000, resetMs: 5000, remainingStep: 1000 })).toEqual({
      limit: 2000,
      windowMs: 60_000,
      level: 2000 * (5000 / 60_000),
      capacity: 2000,
    });
    // Nearly full: the remaining is the closer bound.
    expect(readBucket({ limit: 2000, remaining: 1000, resetMs: 40_000, remainingStep: 1000 })!.level).toBe(
      1000,
    );
  });
});
