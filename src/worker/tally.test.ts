import { describe, expect, it } from 'vitest';
import { WorkerTally } from './tally.js';

describe('WorkerTally.line', () => {
  it('says done, ok, failed, dead, the rate over the interval against the limit, 429s, held and backlog', () => {
    let now = 0;
    const t = new WorkerTally(() => now);
    t.succeeded = 1200;
    t.failed = 4;
    t.dead = 3;
    t.rateLimited = 2;
    t.backlog = 796;
    now = 10_000;
    expect(t.line('prompts', 12, 8.3, 'running')).toBe(
      'worker prompts: 1,204 done (1,200 ok, 4 failed), 3 dead, 120.4/s (limit 8.3/s), 2 429s, 12 held, backlog 796',
    );
    t.succeeded += 80;
    now = 20_000;
    expect(t.line('prompts', 0, undefined, 'paused')).toBe(
      'worker prompts: 1,284 done (1,280 ok, 4 failed), 3 dead, 8.0/s, 2 429s, 0 held, backlog 796, paused',
    );
  });
});
