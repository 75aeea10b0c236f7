import { describe, expect, it } from 'vitest';
import { bucket, MINUTE_MS } from './limits.js';
import { storeContract } from './store-contract.js';
import { MemoryStore } from './memory-store.js';

storeContract('memory', (options) => new MemoryStore(options));

describe('MemoryStore', () => {
  it('forgets lanes idle longer than idleMs', () => {
    const store = new MemoryStore({ idleMs: 1000 });
    const specs = [bucket('tokens', 600, MINUTE_MS)];
    store.reserve('old', specs, { tokens: 600 }, 0);
    // A new lane two minutes later sweeps the idle one.
    store.reserve('new', specs, { tokens: 1 }, 120_000);
    expect(store.snapshot('old', specs, 0).levels['tokens/60000']).toBe(0);
  });
});
