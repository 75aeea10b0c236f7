/**
 * The admin token: beyond loopback, /dashboard and /api/stats need it and /metrics stays open. The
 * gateway binds 0.0.0.0 and the tests connect through 127.0.0.1: the rule follows the bound host, not
 * the peer's address.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMock } from '../src/mock/index.js';
import { startGateway } from '../src/serve/gateway.js';
import { AdminTokenError, observer } from '../src/serve/observe/index.js';
import { chat, startObserved, type Observed } from './support/observe.js';

const TOKEN = 'admin-7d1e0c93f2b64a58a1c0';

describe('admin endpoints on a gateway bound beyond loopback', () => {
  let o: Observed;
  beforeAll(async () => {
    o = await startObserved({ host: '0.0.0.0', observe: { adminToken: TOKEN } });
    await chat(o.url, 'sk-test');
  });
  afterAll(() => o?.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${o.url}${path}`, { headers, redirect: 'manual' });

  it('refuses /api/stats, /dashboard and its files without the token, with an OpenAI-shaped 401', async () => {
    for (const path of ['/api/stats', '/api/stats?stream=1', '/dashboard', '/dashboard/app.js']) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      expect(body.error.code).toBe('admin_token_required');
      expect(body.error.type).toBe('invalid_request_error');
      expect(body.error.message).toContain('SLUICE_ADMIN_TOKEN');
    }
  });

  it('refuses a wrong token, without echoing either token', async () => {
    const res = await get('/api/stats', { authorization: 'Bearer not-the-admin-token-at-all' });
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text).error.code).toBe('invalid_admin_token');
    expect(text).not.toContain('not-the-admin-token-at-all');
    expect(text).not.toContain(TOKEN);
    expect((await get(`/dashboard?token=wrong-token-0123456789`)).status).toBe(401);
  });

  it('accepts Authorization: Bearer with the token', async () => {
    const res = await get('/api/stats', { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { totals: { requests: number } }).totals.requests).toBe(1);
  });

  it('exchanges /dashboard?token= for an HttpOnly SameSite=Strict cookie that lets the page and its stream in', async () => {
    const res = await get(`/dashboard?token=${TOKEN}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    const pair = cookie.split(';')[0]!;
    expect((await get('/dashboard', { cookie: pair })).status).toBe(200);
    expect((await get('/dashboard/app.js', { cookie: pair })).status).toBe(200);
    const stream = await get('/api/stats?stream=1', { cookie: pair });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await stream.body?.cancel();
    expect((await get('/api/stats', { cookie: 'sluice_admin=forged' })).status).toBe(401);
  });

  it('keeps /metrics open', async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('sluice_requests_total');
  });
});

describe('admin endpoints on loopback', () => {
  it('need no token', async () => {
    const o = await startObserved({ host: '127.0.0.1' });
    try {
      expect((await fetch(`${o.url}/api/stats`)).status).toBe(200);
      expect((await fetch(`${o.url}/dashboard`)).status).toBe(200);
    } finally {
      await o.close();
    }
  });
});

describe('starting beyond loopback', () => {
  it('is refused without an admin token, naming the variable and the fix', async () => {
    const mock = await startMock();
    try {
      const start = startGateway({ upstream: mock.url, host: '0.0.0.0', port: 0, observe: observer() });
      await expect(start).rejects.toThrow(AdminTokenError);
      await expect(start).rejects.toThrow(/SLUICE_ADMIN_TOKEN is not set.*--host 127\.0\.0\.1/);
    } finally {
      await mock.close();
    }
  });

  it('is refused with a token too short to guard anything', async () => {
    const mock = await startMock();
    try {
      await expect(
        startGateway({
          upstream: mock.url,
          host: '0.0.0.0',
          port: 0,
          observe: observer({ adminToken: 'short' }),
        }),
      ).rejects.toThrow(/at least 16/);
    } finally {
      await mock.close();
    }
  });
});

describe('sluice serve --host 0.0.0.0', () => {
  const main = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const env = (extra: Record<string, string>) => {
    const out: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
    return { ...out, ...extra };
  };

  it('exits 2 without the admin token, saying which variable to set', async () => {
    const child = spawn(
      process.execPath,
      [main, 'serve', '--host', '0.0.0.0', '--port', '0', '--upstream', 'mock'],
      {
        env: env({}),
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('$SLUICE_ADMIN_TOKEN is not set');
    expect(stderr).toContain('--host 127.0.0.1');
  });

  it('starts with the token from --admin-token-env, guards /api/stats with it, serves the dashboard from dist and never prints the token', async () => {
    const child = spawn(
      process.execPath,
      [
        main,
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--upstream',
        'mock',
        '--admin-token-env',
        'OPS_TOKEN',
      ],
      { env: env({ OPS_TOKEN: TOKEN }) },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (c: Buffer) => {
          output += c.toString();
          const m = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
          if (m) resolve(m[1]!);
        });
        child.on('exit', () => reject(new Error(`exited early: ${output}`)));
      });
      const url = `http://127.0.0.1:${port}/api/stats`;
      expect((await fetch(url)).status).toBe(401);
      const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
      expect((await fetch(url, auth)).status).toBe(200);
      // Served from dist/: the copied page files and uPlot resolved from the package.
      const base = `http://127.0.0.1:${port}/dashboard`;
      expect((await fetch(base, auth)).status).toBe(200);
      const uplot = await fetch(`${base}/uplot.js`, auth);
      expect(uplot.status).toBe(200);
      expect(await uplot.text()).toContain('uPlot');
      expect(output).toContain('$OPS_TOKEN');
      expect(output).not.toContain(TOKEN);
    } finally {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    expect(output).not.toContain(TOKEN);
  });
});
