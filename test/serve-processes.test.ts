/**
 * Many processes, one key — the case the gateway exists for: 8 separate client processes, each with its
 * own share of a workload and no knowledge of the others, all through one gateway.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startRig, type GatewayRig } from './support/gateway.js';

const CLIENT = fileURLToPath(new URL('./support/client-process.mjs', import.meta.url));

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

function client(base: string, requests: number, tag: string): Promise<{ ok: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, base, String(requests), '0', tag], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`client ${tag} exited ${code}`));
      resolve(JSON.parse(out) as { ok: number; failed: number });
    });
  });
}

describe('8 client processes sharing one key through one gateway', () => {
  it('every request succeeds and the emulator answers under 1% of them with 429', async () => {
    // 2,400 RPM with a 1 s burst: 40 at once, then 40 per second; 8 × 30 requests arrive together.
    // Enough requests that "under 1%" is a rate, not "none at all".
    rig = await startRig({ rpm: 2400, tpm: 10_000_000, burstSeconds: 1 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client(rig!.base, 30, `p${i}`)));
    expect(results.reduce((n, r) => n + r.ok, 0)).toBe(240);
    expect(results.reduce((n, r) => n + r.failed, 0)).toBe(0);
    const stats = rig.mock.stats();
    expect(stats.admitted).toBe(240);
    expect(stats.rejected.total / stats.received).toBeLessThan(0.01);
  }, 60_000);
});
