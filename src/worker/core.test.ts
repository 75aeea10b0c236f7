import { describe, expect, it } from 'vitest';
import type { HttpAnswer, HttpPost } from '../protocol/http.js';
import { WorkerCore, type Delivery } from './core.js';
import type { Flow } from './flow.js';
import { memoryFinished } from './remember.js';

const NO_HEADERS = { get: () => null };
const chat = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, ...extra },
  });
const delivery = (text: string, more: Partial<Delivery> = {}): Delivery => ({
  text,
  headers: NO_HEADERS,
  redelivered: false,
  ...more,
});

function answer(status: number, body: unknown): HttpAnswer {
  return { status, headers: { 'x-request-id': 'req_1' }, text: JSON.stringify(body) };
}

const OK = {
  id: 'c1',
  object: 'chat.completion',
  choices: [],
  usage: { prompt_tokens: 3, completion_tokens: 2 },
};

function core(
  send: (url: string, post: HttpPost) => Promise<HttpAnswer>,
  options: Record<string, unknown> = {},
) {
  const sent: string[] = [];
  const c = new WorkerCore(
    {
      queue: 'q',
      baseUrl: 'http://127.0.0.1:1/v1',
      apiKey: 'sk-test',
      rpm: 6000,
      transport: (url, post) => {
        sent.push(url);
        return send(url, post);
      },
      engine: { retry: { maxAttempts: 1 } },
      ...options,
    },
    { finished: memoryFinished() },
  );
  return { c, sent };
}

class RecordingFlow implements Flow {
  readonly calls: string[] = [];
  async setPrefetch(n: number) {
    this.calls.push(`prefetch ${n}`);
  }
  async pause() {
    this.calls.push('pause');
  }
  async resume(n: number) {
    this.calls.push(`resume ${n}`);
  }
}

describe('WorkerCore', () => {
  it('a success becomes an output line for the message, sent to the line url joined to the base url', async () => {
    const { c, sent } = core(async () => answer(200, OK));
    const v = await c.process(delivery(chat('a')));
    expect(v).toMatchObject({ kind: 'result', ok: true, customId: 'a' });
    if (v.kind !== 'result') throw new Error('not a result');
    expect(v.line).toMatchObject({
      custom_id: 'a',
      error: null,
      response: { status_code: 200, request_id: 'req_1', body: OK },
    });
    expect(sent).toEqual(['http://127.0.0.1:1/v1/chat/completions']);
    await c.close();
  });

  it('a 400 answer becomes an error line with the upstream answer, sent once', async () => {
    const body = { error: { message: 'bad', type: 'invalid_request_error', code: null } };
    const { c, sent } = core(async () => answer(400, body));
    const v = await c.process(delivery(chat('a')));
    expect(v).toMatchObject({
      kind: 'result',
      ok: false,
      line: { error: { code: 'upstream_rejected' }, response: { status_code: 400, body } },
    });
    expect(sent).toHaveLength(1);
    await c.close();
  });

  it('a malformed message or a bad x-sluice header is dead with its reason, and nothing is sent', async () => {
    const { c, sent } = core(async () => answer(200, OK));
    expect(await c.process(delivery('{"custom_id":"a"'))).toMatchObject({
      kind: 'dead',
      code: 'invalid_json',
      customId: null,
    });
    const headers = { get: (n: string) => (n === 'x-sluice-priority' ? 'urgent' : null) };
    expect(await c.process(delivery(chat('b'), { headers }))).toMatchObject({
      kind: 'dead',
      code: 'invalid_option',
      customId: 'b',
    });
    const deadline = { get: (n: string) => (n === 'x-sluice-deadline' ? 'tomorrow-ish' : null) };
    expect(await c.process(delivery(chat('c'), { headers: deadline }))).toMatchObject({
      kind: 'dead',
      code: 'invalid_header',
    });
    expect(sent).toEqual([]);
    await c.close();
  });

  it('a message past its x-sluice-deadline gets a deadline_exceeded error line without being sent', async () => {
    const { c, sent } = core(async () => answer(200, OK));
    const headers = { get: (n: string) => (n === 'x-sluice-deadline' ? String(Date.now() - 1000) : null) };
    expect(await c.process(delivery(chat('a'), { headers }))).toMatchObject({
      kind: 'result',
      ok: false,
      line: { error: { code: 'deadline_exceeded' } },
    });
    expect(sent).toEqual([]);
    await c.close();
  });

  it('a redelivered message whose result was published is finished before and not sent again; a first delivery is sent', async () => {
    const { c, sent } = core(async () => answer(200, OK));
    await c.published('a');
    expect(await c.process(delivery(chat('a'), { redelivered: true }))).toEqual({
      kind: 'finished_before',
      customId: 'a',
    });
    expect(await c.process(delivery(chat('b'), { redelivered: true }))).toMatchObject({
      kind: 'result',
      ok: true,
    });
    expect(sent).toHaveLength(1);
    await c.close();
  });

  it('a quota error returns the message and pauses the flow; after the probe interval one message probes, and a success resumes the prefetch', async () => {
    let quota = true;
    const { c } = core(
      async () =>
        quota
          ? answer(429, {
              error: {
                message: 'You exceeded your current quota',
                type: 'insufficient_quota',
                code: 'insufficient_quota',
              },
            })
          : answer(200, OK),
      { quotaProbeMs: 30, concurrency: 6 },
    );
    const flow = new RecordingFlow();
    c.attach(flow);
    expect(await c.process(delivery(chat('a')))).toEqual({ kind: 'requeue', reason: 'quota' });
    await c.flowSettled();
    expect(c.state.kind).toBe('paused');
    expect(flow.calls).toEqual(['pause']);
    await new Promise((r) => setTimeout(r, 60));
    await c.flowSettled();
    expect(c.state.kind).toBe('probing');
    expect(c.prefetch).toBe(1);
    expect(flow.calls).toEqual(['pause', 'resume 1']);
    quota = false;
    expect(await c.process(delivery(chat('a')))).toMatchObject({ kind: 'result', ok: true });
    await c.flowSettled();
    expect(c.state.kind).toBe('running');
    expect(flow.calls).toEqual(['pause', 'resume 1', 'resume 6']);
    await c.close();
  });

  it('holds one message until the first answer, then twice rate × latency (plus two)', async () => {
    const { c } = core(async () => {
      await new Promise((r) => setTimeout(r, 50));
      return answer(200, OK);
    });
    c.attach(new RecordingFlow());
    expect(c.prefetch).toBe(1);
    await c.process(delivery(chat('a')));
    await c.flowSettled();
    // rpm 6000 = 0.1 per ms; the latency measured is at least 50 ms.
    expect(c.prefetch).toBeGreaterThanOrEqual(Math.ceil(2 * 0.1 * 50) + 2);
    await c.close();
  });

  it('draining returns a message still waiting for admission, and stops taking new ones', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { c } = core(
      async () => {
        await gate;
        return answer(200, OK);
      },
      { concurrency: 1, rpm: 1, graceMs: 5000 },
    );
    c.attach(new RecordingFlow());
    const onWire = c.process(delivery(chat('a')));
    // rpm 1: the second waits a minute for admission.
    const waiting = c.process(delivery(chat('b')));
    await new Promise((r) => setTimeout(r, 20));
    const drained = c.drain();
    expect(await waiting).toEqual({ kind: 'requeue', reason: 'stopping' });
    release();
    expect(await onWire).toMatchObject({ kind: 'result', ok: true });
    await drained;
    expect(await c.process(delivery(chat('c')))).toEqual({ kind: 'requeue', reason: 'stopping' });
    await c.close();
  });
});
