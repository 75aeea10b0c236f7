/**
 * Mistakes in the command line or the environment get one clear message, at once, instead of retries;
 * and the API key appears nowhere Sluice writes. Each test pins a defect users met.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBatch } from '../src/batch/runner.js';
import { CLI_ENV, filesIn, readJsonl, runBatchCli, tempDir, writeInput } from './support/batch.js';
import { chatCompletion, json, startServer, type TestServer } from './support/server.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  cleanup.push(() => s.close());
  return s;
}

describe('sluice batch says what is wrong, at once', () => {
  it('regression (a base URL without http(s) was tried 5 times per line): --base-url localhost:45043/v1, ftp:// and file:// exit 2, naming the flag and the value', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 2);
    const output = join(dir, 'out.jsonl');
    for (const [value, why] of [
      ['localhost:45043/v1', /has no scheme \(did you mean http:\/\/localhost:45043\/v1\?\)/],
      ['ftp://example.com/v1', /uses ftp:\/\/, but the API is reached over http:\/\/ or https:\/\//],
      ['file:///tmp/v1', /uses file:\/\//],
      ['api.openai.com/v1', /has no scheme/],
    ] as const) {
      const r = await runBatchCli([input, '--output', output, '--base-url', value]);
      expect(r.code, value).toBe(2);
      expect(r.stderr).toContain(`--base-url "${value}"`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/attempt/);
    }
    const fromEnv = await runBatchCli([input, '--output', output], {
      env: { ...CLI_ENV, OPENAI_BASE_URL: 'ftp://example.com/v1' },
    });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('OPENAI_BASE_URL "ftp://example.com/v1"');
  });

  it('regression (a key with a trailing \\r was told as "check the network"): a key an HTTP header cannot carry is named as a key problem, exit 2, the key never shown', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 2);
    const base = ['--base-url', 'http://127.0.0.1:9/v1'];
    const r = await runBatchCli([input, '--output', join(dir, 'o1.jsonl'), ...base], {
      env: { ...CLI_ENV, OPENAI_API_KEY: 'sk-secret-trailing-cr-0123\r' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the API key in OPENAI_API_KEY contains a carriage return \(\\r\) at its end/);
    expect(r.stderr).not.toContain('sk-secret');
    expect(r.stderr).not.toMatch(/network|attempt/);

    const nl = await runBatchCli(
      [input, '--output', join(dir, 'o2.jsonl'), ...base, '--api-key-env', 'TEAM_KEY'],
      {
        env: { ...CLI_ENV, TEAM_KEY: 'sk-secret-newline-0123\n' },
      },
    );
    expect(nl.code).toBe(2);
    expect(nl.stderr).toMatch(/the API key in TEAM_KEY contains a line break \(\\n\) at its end/);
    expect(nl.stderr).not.toContain('sk-secret');
  });

  it('regression (the advice "raise retry.maxAttempts" named no CLI flag): failures that outlast the retries say what a CLI user can do', async () => {
    const down = await server((_req, res) =>
      json(res, 503, { error: { message: 'overloaded', type: 'server_error' } }),
    );
    const gone = await server((_req, res) => {
      res.destroy();
    });
    const retry = { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 };
    for (const s of [down, gone]) {
      const dir = tempDir();
      const input = writeInput(dir, 3);
      const output = join(dir, 'out.jsonl');
      const summary = await runBatch({
        input,
        output,
        baseUrl: `${s.url}/v1`,
        apiKey: 'sk-test',
        engine: { retry },
      });
      expect(summary).toMatchObject({ failed: 3, exitCode: 1 });
      const messages = readJsonl(`${output}.errors.jsonl`).map((e) => e.error?.message ?? '');
      expect(messages).toHaveLength(3);
      for (const m of messages) {
        expect(m).toMatch(/--resume --retry-failed sends the line again/);
        expect(m).not.toMatch(/retry\.maxAttempts|maxRateLimitRetries|maxQueue/);
      }
    }
  });
});

describe('sluice batch never prints or stores the API key', () => {
  const KEY = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGHijkl';

  it('regression (--api-key-env given a key echoed it twice): a key where a variable name belongs is refused without showing it', async () => {
    const dir = tempDir();
    const input = writeInput(dir, 1);
    for (const value of [KEY, 'not a name; maybe a secret']) {
      const r = await runBatchCli([input, '--output', join(dir, 'out.jsonl'), '--api-key-env', value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--api-key-env takes the (NAME|name) of/);
      expect(r.stderr + r.stdout).not.toContain(value);
    }
    const r = await runBatchCli([input, '--output', join(dir, 'out.jsonl'), '--api-key-env', KEY]);
    expect(r.stderr).toMatch(/looks like an API key itself \(not shown\)/);
  });

  it('regression (a 401 that echoes the key was printed and stored verbatim): the key, and any long piece of it, is in no output, message or file', async () => {
    const refused = await server((_req, res) =>
      json(res, 401, {
        error: {
          message: `Incorrect API key provided: ${KEY}. Also seen: ${KEY.slice(5, 30)}.`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      }),
    );
    const echoing = await server((_req, res) => json(res, 200, chatCompletion(`your key is ${KEY}`)));
    for (const s of [refused, echoing]) {
      const dir = tempDir();
      const input = writeInput(dir, 3);
      const r = await runBatchCli([input, '--output', join(dir, 'out.jsonl'), '--base-url', `${s.url}/v1`], {
        env: { ...CLI_ENV, OPENAI_API_KEY: KEY },
      });
      expect(r.code).toBe(s === refused ? 1 : 0);
      const pieces = [KEY, KEY.slice(8, 20), KEY.slice(-12)];
      const everything = [r.stdout, r.stderr, ...filesIn(dir).values()];
      for (const text of everything) for (const piece of pieces) expect(text).not.toContain(piece);
      expect(everything.join('\n')).toContain('[redacted]');
    }
    // It was sent, though: only what Sluice writes is redacted.
    expect(refused.requests[0]!.headers['authorization']).toBe(`Bearer ${KEY}`);
  });
});
