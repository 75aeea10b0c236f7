/**
 * Apps behind virtual keys: their classes, their sub-limits (at most X of a lane, without holding the
 * others back) and a config reload that changes limits of lanes already in use.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/serve/config.js';
import { sha256 } from '../src/serve/keys.js';
import { startRig, type GatewayRig } from './support/gateway.js';

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const ENV = { UP: 'sk-upstream' };
const config = (text: string) => parseConfig(text, 'sluice.yaml', ENV);
const APPS = `
  - name: checkout
    key_sha256: ${sha256('vk-checkout')}
    upstream_key_env: UP
    priority: interactive
  - name: reports
    key_sha256: ${sha256('vk-reports')}
    upstream_key_env: UP
    priority: batch
    limits: { rpm: 60, burst: 1s }
`;

const ask = (key: string, i: number, headers: Record<string, string> = {}) =>
  fetch(`${rig!.base}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `q${i}` }],
      max_tokens: 5,
    }),
  });

describe('apps behind virtual keys', () => {
  it('an app over its own sub-limit waits without holding other apps back', async () => {
    rig = await startRig(
      { keys: ['sk-upstream'], rpm: 6000 },
      { config: config(`limits: { rpm: 6000 }\nkeys:${APPS}`) },
    );
    const reports = Array.from({ length: 4 }, (_, i) => ask('vk-reports', i));
    // The first reports request takes the app's one-request burst; checkout then arrives.
    await until(() => rig!.records.length >= 1);
    const checkout = await Promise.all(Array.from({ length: 5 }, (_, i) => ask('vk-checkout', i)));
    for (const r of checkout) expect(r.status).toBe(200);
    const done = rig.records.map((r) => r.app);
    // All of checkout finished while reports had got at most two through (one a second).
    expect(done.filter((a) => a === 'checkout')).toHaveLength(5);
    expect(done.filter((a) => a === 'reports').length).toBeLessThanOrEqual(2);
    for (const r of await Promise.all(reports)) expect(r.status).toBe(200);
    // The reports app never ran above its sub-limit: 1 at once, then 1 per second.
    const stats = await rig.gateway.engine.stats();
    expect(stats[0]!.buckets.find((b) => b.dimension === 'requests')!.limit).toBe(6000);
    expect(rig.mock.stats().rejected.total).toBe(0);
  });

  it('a request may ask for a lower class than its app’s, never a higher one', async () => {
    rig = await startRig({ keys: ['sk-upstream'] }, { config: config(`keys:${APPS}`) });
    await (await ask('vk-reports', 1, { 'x-sluice-priority': 'interactive' })).text();
    await (await ask('vk-checkout', 2, { 'x-sluice-priority': 'batch' })).text();
    expect(rig.records.map((r) => [r.app, r.priority])).toEqual([
      ['reports', 'batch'],
      ['checkout', 'batch'],
    ]);
  });

  it('reload applies new limits to a lane already in use', async () => {
    rig = await startRig(
      { keys: ['sk-upstream'], rpm: 10_000, tpm: 10_000_000 },
      { config: config(`limits: { rpm: 6000 }\nkeys:${APPS}`) },
    );
    expect((await ask('vk-checkout', 1)).status).toBe(200);
    const limit = async () =>
      (await rig!.gateway.engine.stats())[0]!.buckets.find(
        (b) => b.dimension === 'requests' && b.windowMs === 60_000,
      )!.limit;
    expect(await limit()).toBe(6000);
    rig.gateway.reload(config(`limits: { rpm: 120 }\nmax_wait: 100ms\nkeys:${APPS}`));
    expect(await limit()).toBe(120);
    // The new default deadline applies too: a request that would wait longer fails at once.
    const answers = await Promise.all(Array.from({ length: 150 }, (_, i) => ask('vk-checkout', i)));
    const statuses = new Set(answers.map((a) => a.status));
    expect(statuses).toEqual(new Set([200, 429]));
    const refused = answers.find((a) => a.status === 429)!;
    expect(await refused.json()).toMatchObject({ error: { code: 'deadline_exceeded' } });
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('120');
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
}
