/**
 * The dashboard in a real browser (Debian's Chromium, headless, through playwright-core) while load runs
 * through the gateway: three apps on virtual keys, two upstream keys, one of which runs out of quota.
 * The numbers and charts must move; screenshots go to test-results/ for a person to look at.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/serve/config.js';
import { sha256 } from '../src/serve/keys.js';
import { chat, startObserved, type Observed } from './support/observe.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const OUT = new URL('../test-results/', import.meta.url);

const APPS = {
  checkout: 'vk-checkout-0f3b8e21',
  reports: 'vk-reports-9a7c55d0',
  'legacy-sync': 'vk-legacy-sync-41e2',
};

function config() {
  const yaml = `
keys:
  - name: checkout
    key_sha256: ${sha256(APPS.checkout)}
    upstream_key_env: UPSTREAM_MAIN
    priority: interactive
  - name: reports
    key_sha256: ${sha256(APPS.reports)}
    upstream_key_env: UPSTREAM_MAIN
    priority: batch
  - name: legacy-sync
    key_sha256: ${sha256(APPS['legacy-sync'])}
    upstream_key_env: UPSTREAM_LEGACY
`;
  return parseConfig(yaml, 'sluice.yaml', {
    UPSTREAM_MAIN: 'sk-upstream-main-0000000000000000',
    UPSTREAM_LEGACY: 'sk-upstream-legacy-000000000000000',
  });
}

/** Keeps `concurrency` requests going for an app until stopped. */
function keepBusy(url: string, key: string, concurrency: number, priority: string, stop: AbortSignal) {
  const loop = async () => {
    while (!stop.aborted) {
      await chat(url, key, {}, { 'x-sluice-priority': priority }).catch(() => 0);
    }
  };
  return Promise.all(Array.from({ length: concurrency }, loop));
}

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}; the dashboard test needs it. Install Debian's package: apt-get install -y --no-install-recommends chromium (.ci/run does this).`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

const valueOf = (page: Page, testid: string) =>
  page.$eval(`[data-testid="${testid}"] [data-field="value"]`, (el) =>
    Number((el as HTMLElement).dataset.value),
  );

/**
 * The pixels of the busy lane's requests chart drawn in the requests colour (its line and fill): how
 * many, and a checksum of where they are, which changes when the line does (not when only the axis
 * labels do).
 */
const seriesPixels = (page: Page) =>
  page
    .locator('.lane', { hasText: 'checkout' })
    .locator('[data-chart="rpm"] canvas')
    .evaluate((canvas) => {
      const c = canvas as HTMLCanvasElement;
      const css = getComputedStyle(document.documentElement).getPropertyValue('--req').trim();
      const v = parseInt(css.slice(1), 16);
      const [r, g, b] = [v >> 16, (v >> 8) & 255, v & 255];
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let count = 0;
      let where = 0;
      for (let i = 0; i < data.length; i += 4) {
        const near =
          Math.abs(data[i]! - r) < 30 && Math.abs(data[i + 1]! - g) < 30 && Math.abs(data[i + 2]! - b) < 30;
        if (near && data[i + 3]! > 200) {
          count++;
          where = (where * 31 + i) % 1_000_000_007;
        }
      }
      return { count, where };
    });

describe('the dashboard in a browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    browser = await launch();
  });
  afterAll(() => browser?.close());

  it(
    'moves its numbers and charts while load runs, and shows a tripped lane',
    { timeout: 90_000 },
    async () => {
      const o: Observed = await startObserved({
        mock: {
          rpm: 180,
          tpm: 200_000,
          burstSeconds: 5,
          latencyMs: 150,
          quotaTokens: 6000,
          errorRate: 0.03,
          seed: 3,
        },
        config: config(),
        gateway: { engine: { retry: { baseDelayMs: 20, maxDelayMs: 200 } } },
      });
      const stop = new AbortController();
      try {
        // The legacy app spends its key's quota in a few large requests; the next one trips its lane.
        let quotaHit = false;
        for (let i = 0; i < 20 && !quotaHit; i++) {
          const content = `Summarise ledger batch ${i}.`;
          quotaHit =
            (await chat(o.url, APPS['legacy-sync'], {
              max_tokens: 4000,
              messages: [{ role: 'user', content }],
            })) === 429;
        }
        expect(quotaHit).toBe(true);
        const load = Promise.all([
          keepBusy(o.url, APPS.checkout, 2, 'interactive', stop.signal),
          keepBusy(o.url, APPS.reports, 6, 'batch', stop.signal),
        ]);

        const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
        const problems: string[] = [];
        page.on('pageerror', (err) => problems.push(err.message));
        // Content-Security-Policy refusals and failed loads show up as console errors.
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        await page.goto(`${o.url}/dashboard`);
        await page.waitForSelector('.conn[data-state="live"]');
        await page.waitForFunction(() => document.querySelectorAll('.lane canvas').length >= 6);

        const first = await valueOf(page, 'kpi-rpm');
        const before = await seriesPixels(page);
        await expect
          .poll(() => valueOf(page, 'kpi-rpm'), { timeout: 20_000, interval: 500 })
          .toBeGreaterThan(first);
        await expect
          .poll(async () => (await seriesPixels(page)).where, { timeout: 20_000, interval: 500 })
          .not.toBe(before.where);
        expect((await seriesPixels(page)).count).toBeGreaterThan(200);
        expect(await valueOf(page, 'kpi-tpm')).toBeGreaterThan(0);

        const badges = await page.$$eval('.lane .badge', (els) => els.map((e) => e.textContent ?? ''));
        expect(badges).toContain('TRIPPED: quota');
        expect(await page.textContent('.alert.tripped')).toMatch(/TRIPPED: quota/);
        const apps = await page.$$eval('#apps tbody tr td:first-child', (els) =>
          els.map((e) => e.textContent),
        );
        expect(apps).toEqual(['checkout', 'reports', 'legacy-sync']);

        // Let the queue and the charts fill a little before the picture is taken.
        await page.waitForTimeout(6000);
        await page.screenshot({ path: new URL('dashboard.png', OUT).pathname, fullPage: true });
        await page.emulateMedia({ colorScheme: 'light' });
        await page.waitForTimeout(1500);
        await page.screenshot({ path: new URL('dashboard-light.png', OUT).pathname, fullPage: true });
        const html = await page.content();
        for (const key of Object.values(APPS)) expect(html).not.toContain(key);
        expect(html).not.toContain('sk-upstream');
        expect(problems).toEqual([]);
        await page.close();
        stop.abort();
        await load;
      } finally {
        stop.abort();
        await o.close();
      }
    },
  );

  it('says what to do when there is no traffic yet', { timeout: 30_000 }, async () => {
    const o = await startObserved();
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' });
      await page.goto(`${o.url}/dashboard`);
      await page.waitForSelector('.conn[data-state="live"]');
      const text = await page.textContent('#empty');
      expect(text).toContain('No traffic yet');
      expect(text).toContain(`OPENAI_BASE_URL`);
      expect(text).toContain(`${o.url}/v1`);
      expect(await page.isVisible('#empty')).toBe(true);
      await page.screenshot({ path: new URL('dashboard-empty.png', OUT).pathname, fullPage: true });
      await page.close();
    } finally {
      await o.close();
    }
  });
});
