/**
 * Regression tests for defects found by trying the emulator as a new user would (items 11 and 12 of
 * that report), each named after the defect it pins.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, MOCK_DEFAULTS, startMock, type MockServer } from '../src/mock/index.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

let mock: MockServer | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${mock!.url}${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-test' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Resolves once `check()` holds, polling; no time bound of its own (the test timeout is the bound). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

describe('defect 11: one request with a huge max_tokens kills the mock', () => {
  it('max_tokens 1000000000 on --tpm 0 is charged in full but generates at most maxGeneratedTokens', async () => {
    mock = await startMock({ rpm: 0, tpm: 0 });
    const cap = MOCK_DEFAULTS.maxGeneratedTokens;
    expect(cap).toBe(4096);
    const res = await post('/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1_000_000_000,
    });
    expect(res.status).toBe(200);
    const json = await res.json();
    expect(json.usage.completion_tokens).toBeGreaterThanOrEqual(1);
    expect(json.usage.completion_tokens).toBeLessThanOrEqual(cap);
    expect(json.choices[0].message.content.split(' ').length).toBe(json.usage.completion_tokens);
    // The admission charge is the request's own max, in full: ceil(2 / 4) + 1e9.
    expect(mock.stats().tokens.charged).toBe(1 + 1_000_000_000);

    // Still serving.
    const next = await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(next.status).toBe(200);
  });

  it('the cap covers every choice of a request together, streamed or not, on every endpoint', async () => {
    mock = await startMock({ rpm: 0, tpm: 0, maxGeneratedTokens: 40 });
    const chat = await (
      await post('/chat/completions', {
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        n: 4,
        max_completion_tokens: 10_000_000,
      })
    ).json();
    expect(chat.choices).toHaveLength(4);
    expect(chat.usage.completion_tokens).toBeLessThanOrEqual(40);
    for (const c of chat.choices) expect(c.finish_reason).toBe('stop');

    const stream = await (
      await post('/completions', { model: 'm', prompt: 'hi', max_tokens: 10_000_000, stream: true })
    ).text();
    const deltas = stream.split('\n\n').filter((f) => f.startsWith('data: {') && f.includes('"text":"'));
    expect(deltas.length).toBeLessThanOrEqual(41);

    const responses = await (
      await post('/responses', { model: 'm', input: 'hi', max_output_tokens: 10_000_000 })
    ).json();
    expect(responses.usage.output_tokens).toBeLessThanOrEqual(40);
    expect(mock.stats().tokens.charged).toBe(1 + 4 * 10_000_000 + (1 + 10_000_000) + (1 + 10_000_000));
  });

  it('`sluice mock --tpm 0` answers max_tokens 1000000000 and keeps running', async () => {
    const child = spawn(process.execPath, [CLI, 'mock', '--tpm', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
          if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const base = `${first.slice('listening on '.length)}/v1`;
      const res = await fetch(`${base}/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 1_000_000_000,
        }),
      });
      expect(res.status).toBe(200);
      expect((await res.text()).length).toBeLessThan(100_000);
      expect(child.exitCode).toBeNull();
      const again = await fetch(`${base}/models`);
      expect(again.status).toBe(200);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('defect 12: delays beyond the longest timer fire at once; a 413 counted as notFound', () => {
  it('refuses latencyMs and msPerToken above the longest timer, naming the option', async () => {
    await expect(startMock({ latencyMs: 3_000_000_000 })).rejects.toThrow(
      `Expected \`latencyMs\` to be a number of milliseconds from 0 to ${MAX_TIMER_MS} (about 24.8 days, the longest timer Node.js allows), got 3000000000.`,
    );
    await expect(startMock({ msPerToken: MAX_TIMER_MS + 1 })).rejects.toThrow('Expected `msPerToken` to be');
    mock = await startMock({ latencyMs: MAX_TIMER_MS });
  });

  it('`sluice mock --latency-ms 3000000000` exits 2 naming the flag', () => {
    // Before the fix the mock started and never exited: the timeout turns that into a failure.
    const result = spawnSync(process.execPath, [CLI, 'mock', '--latency-ms', '3000000000'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      `error: --latency-ms: expected a number of milliseconds from 0 to ${MAX_TIMER_MS} (about 24.8 days, the longest timer Node.js allows), got "3000000000"`,
    );
    expect(result.stdout).toBe('');
  });

  it('latency plus generation time beyond the longest timer waits, without a TimeoutOverflowWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      mock = await startMock({ rpm: 0, tpm: 0, latencyMs: MAX_TIMER_MS, msPerToken: MAX_TIMER_MS });
      let answered = false;
      const pending = post('/chat/completions', {
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 1,
      }).then(
        () => (answered = true),
        () => undefined,
      );
      await until(() => mock!.stats().admitted === 1);
      // An overflowing timer fires after 1 ms; give it far longer than that to show itself.
      await new Promise((r) => setTimeout(r, 200));
      expect(answered).toBe(false);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      await mock.close();
      mock = undefined;
      await pending;
      expect(answered).toBe(false);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('counts a 413 under errors.bodyTooLarge, not errors.notFound', async () => {
    mock = await startMock();
    const res = await post('/chat/completions', 'x'.repeat(32 * 1024 * 1024 + 1));
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toBe('Request body too large.');
    const missing = await post('/nowhere', {});
    expect(missing.status).toBe(404);
    expect(mock.stats().errors).toMatchObject({ bodyTooLarge: 1, notFound: 1 });
  });
});
