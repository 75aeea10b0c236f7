/**
 * What a client can and cannot make the gateway do: it never reveals the upstream key, it refuses
 * unknown virtual keys, it never calls another host, and it bounds what it reads.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/serve/config.js';
import { sha256 } from '../src/serve/keys.js';
import { startRig, type GatewayRig } from './support/gateway.js';

const UPSTREAM_KEY = 'sk-upstream-SECRET-0123456789abcdef';
const APP_KEY = 'vk-checkout-app-key';

let rig: GatewayRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const chat = (content = 'hi') =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 5 });

async function withVirtualKeys(): Promise<GatewayRig> {
  const config = parseConfig(
    `keys:\n  - name: checkout\n    key_sha256: ${sha256(APP_KEY)}\n    upstream_key_env: UPSTREAM_KEY\n    priority: interactive\n`,
    'sluice.yaml',
    { UPSTREAM_KEY },
  );
  return startRig({ keys: [UPSTREAM_KEY] }, { config });
}

function headersText(headers: Headers): string {
  const lines: string[] = [];
  headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  return lines.join('\n');
}

/** Sends raw bytes to the gateway and returns the status line and the rest. */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let out = '';
    socket.on('data', (c: Buffer) => (out += c.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('virtual keys', () => {
  it('maps an app’s key to the upstream key and never reveals the upstream key', async () => {
    rig = await withVirtualKeys();
    const ok = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: chat(),
    });
    expect(ok.status).toBe(200);
    const okText = headersText(ok.headers) + (await ok.text());
    const refused = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer vk-wrong', 'content-type': 'application/json' },
      body: chat(),
    });
    const refusedText = headersText(refused.headers) + (await refused.text());
    const models = await fetch(`${rig.base}/models`, { headers: { authorization: `Bearer ${APP_KEY}` } });
    const modelsText = await models.text();
    expect(models.status).toBe(200);
    for (const text of [
      okText,
      refusedText,
      modelsText,
      JSON.stringify(rig.records),
      JSON.stringify(await rig.gateway.engine.stats()),
    ]) {
      expect(text).not.toContain(UPSTREAM_KEY);
      expect(text).not.toContain(UPSTREAM_KEY.slice(3, 20));
    }
    expect(rig.records[0]).toMatchObject({ app: 'checkout', priority: 'interactive', outcome: 'success' });
  });

  it('refuses an unknown virtual key, and a missing one, with 401 before anything goes upstream', async () => {
    rig = await withVirtualKeys();
    for (const headers of [
      { authorization: 'Bearer vk-wrong' },
      {} as Record<string, string>,
      { authorization: `Bearer ${UPSTREAM_KEY}` },
    ]) {
      const res = await fetch(`${rig.base}/chat/completions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: chat(),
      });
      expect(res.status).toBe(401);
      expect((await res.json()) as unknown).toMatchObject({
        error: { code: 'invalid_api_key', type: 'invalid_request_error' },
      });
    }
    expect(rig.mock.stats().received).toBe(0);
  });
});

describe('the upstream is fixed', () => {
  it.each([
    [
      'an absolute-form target',
      'GET http://evil.example/v1/models HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
    ],
    ['a ".." segment', 'GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    [
      'an encoded ".." segment',
      'GET /v1/%2e%2e/%2e%2e/admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ],
    ['an encoded slash and ".."', 'GET /v1/..%2f..%2fadmin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['a backslash', 'GET /v1/..\\admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['a path outside /v1', 'GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ])('refuses %s without calling anything', async (_name, request) => {
    rig = await startRig();
    const answer = await raw(rig.gateway.url, request);
    expect(answer).toMatch(/^HTTP\/1\.1 (400|404) /);
    expect(rig.mock.stats().received).toBe(0);
  });

  it('ignores the Host header: the request still goes to the configured upstream', async () => {
    rig = await startRig();
    const answer = await raw(
      rig.gateway.url,
      'GET /v1/models HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer sk-test\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(rig.mock.stats().received).toBe(1);
  });
});

describe('one request is read one way', () => {
  const body = chat();
  const smuggled = 'GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n\r\n';
  it.each([
    [
      'both a length and chunks',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'two different lengths',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 0\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ],
    [
      'a Transfer-Encoding that does not end in chunked',
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
  ])('refuses a request with %s with 400, closes, and sends nothing upstream', async (_what, request) => {
    rig = await startRig();
    const answer = await raw(rig.gateway.url, request);
    expect([answer.match(/HTTP\/1\.1 \d{3}/g), rig.mock.stats().received]).toEqual([['HTTP/1.1 400'], 0]);
  });
});

describe('bodies', () => {
  it('answers 413 to a body above the limit, declared or streamed, without sending it', async () => {
    rig = await startRig({}, { maxBodyBytes: 1000 });
    const big = chat('x'.repeat(2000));
    const declared = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: big,
    });
    expect(declared.status).toBe(413);
    const streamed = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({
      error: { message: expect.stringContaining('--max-body') },
    });
    expect(rig.mock.stats().received).toBe(0);
  });

  it('answers a request sent with Expect: 100-continue (curl sends it for large bodies), LLM call or not', async () => {
    rig = await startRig();
    const { base } = rig;
    const send = (path: string, body: string) =>
      raw(
        base,
        `POST /v1${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Expect: 100-continue\r\nConnection: close\r\n\r\n${body}`,
      );
    const llm = await send('/chat/completions', chat());
    expect(llm).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const other = await send('/files', '{}');
    expect(other).toMatch(/HTTP\/1\.1 (404|405) /);
    expect(rig.records.map((r) => r.outcome)).toEqual(['success', 'passthrough']);
  });

  it('passes malformed JSON to the upstream, whose business it is', async () => {
    rig = await startRig();
    const res = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    expect(res.status).toBe(400);
    expect(rig.mock.stats().received).toBe(1);
    expect(rig.records[0]).toMatchObject({ outcome: 'passthrough', status: 400 });
  });

  it('answers a bad x-sluice-* header with a clear 400 naming it', async () => {
    rig = await startRig();
    const res = await fetch(`${rig.base}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-test',
        'content-type': 'application/json',
        'x-sluice-priority': 'urgent',
      },
      body: chat(),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'invalid_option', message: expect.stringContaining('x-sluice-priority') },
    });
    expect(rig.mock.stats().received).toBe(0);
  });
});
