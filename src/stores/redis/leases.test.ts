import { describe, expect, it } from 'vitest';
import { slotsKey, tenantSlotsKey } from './keys.js';
import { HeldLeases } from './leases.js';
import type { LuaScript } from './scripts.js';

/** A runner that records each script call as `name keys… | args…`. */
function recorder() {
  const calls: string[] = [];
  return {
    calls,
    run: (script: LuaScript, keys: readonly string[], args: readonly (string | number)[]) => {
      calls.push(`${script.name} ${keys.join(' ')} | ${args.join(' ')}`);
      return Promise.resolve(1);
    },
  };
}

describe('HeldLeases', () => {
  it("renews each lease only in the sets that hold it: no script for a lane's own set without leases", async () => {
    const leases = new HeldLeases();
    const set = 'tenant:a:concurrency';
    leases.hold('both', 's1', '', true);
    leases.hold('both', 's2', set, true);
    leases.hold('both', 's3', set, false);
    leases.hold('tenant-only', 's4', set, false);
    const runner = recorder();
    await leases.renew(runner, 'p:', [7, '0', 15000]);
    expect(runner.calls).toEqual([
      `renew ${slotsKey('p:', 'both')} | 7 0 15000 s1 s2`,
      `renew ${tenantSlotsKey('p:', 'both', set)} | 7 0 15000 s2 s3`,
      `renew ${tenantSlotsKey('p:', 'tenant-only', set)} | 7 0 15000 s4`,
    ]);
  });

  it('forgets a lease taken back, and says which tenant set held it', async () => {
    const leases = new HeldLeases();
    leases.hold('lane', 's1', 'tenant:a:concurrency', false);
    expect(leases.take('lane', 's1')).toBe('tenant:a:concurrency');
    expect(leases.take('lane', 's1')).toBeUndefined();
    const runner = recorder();
    await leases.renew(runner, 'p:', [7, '0', 15000]);
    expect(runner.calls).toEqual([]);
  });
});
