/**
 * The gateway's drain in-process: what happens to connections that clients keep alive.
 */
import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { startGateway, type Gateway } from '../src/serve/gateway.js';

let mock: MockServer | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await mock?.close();
  gateway = undefined;
  mock = undefined;
});

interface Answer {
  status: number;
  connection: string | undefined;
  reusedSocket: boolean;
}

/** One chat completion through `agent`, read to the end. */
function chat(url: string, agent: Agent): Promise<Answer> {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            connection: res.headers.connection,
            reusedSocket: req.reusedSocket,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('draining', () => {
  it('answers a request sent on a connection that was idle when the drain began, with connection: close', async () => {
    mock = await startMock();
    gateway = await startGateway({ upstream: `${mock.url}`, port: 0 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await chat(gateway.url, agent)).status).toBe(200);
      // The connection now sits idle in the agent's pool; the client has not seen the drain.
      const drained = gateway.drain(5_000);
      const during = await chat(gateway.url, agent);
      expect(during).toEqual({ status: 200, connection: 'close', reusedSocket: true });
      expect(await drained).toEqual({ unfinished: 0 });
      gateway = undefined;
    } finally {
      agent.destroy();
    }
  });
});
