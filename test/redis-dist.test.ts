/**
 * `sluice/redis` as users get it: the built package (dist/, found through the package's own `exports`)
 * and the sources run by tsx must both find their Lua scripts and decide in Redis on 127.0.0.1:6379.
 * `npm test` builds before it runs the tests.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix, removeKeys, sharedRedis } from './support/redis.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
let redis: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterAll(async () => {
  if (!redis) return; // beforeAll said why
  for (const prefix of prefixes) await removeKeys(redis, prefix);
  redis.disconnect();
});

/** A program that reserves twice on a lane with room for one and prints both answers. */
function program(from: string, prefix: string): string {
  return `import { createRedisStore } from '${from}';
const store = createRedisStore({ url: 'redis://127.0.0.1:6379', prefix: '${prefix}', commandTimeoutMs: 5000 });
const spec = { id: 'requests/60000', dimension: 'requests', limit: 1, windowMs: 60000, capacity: 1 };
const a = await store.reserve('lane', [spec], { requests: 1 }, Date.now());
const b = await store.reserve('lane', [spec], { requests: 1 }, Date.now());
console.log(JSON.stringify({ a, b, status: store.status }));
await store.close();
`;
}

function expectDecidedInRedis(stdout: string): void {
  const out = JSON.parse(stdout) as {
    a: { ok: boolean };
    b: { ok: boolean; blockedBy: string };
    status: string;
  };
  expect(out.a.ok).toBe(true);
  expect(out.b).toMatchObject({ ok: false, blockedBy: 'requests/60000' });
  expect(out.status).toBe('redis');
}

describe('sluice/redis, built and from source', () => {
  it('works from dist/ through the package exports (the .lua files are shipped)', async () => {
    expect(
      existsSync(join(root, 'dist/stores/redis/lua/reserve.lua')),
      'dist/ is built: run `npm run build`',
    ).toBe(true);
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', program('sluice/redis', prefix)],
      {
        cwd: root,
      },
    );
    expectDecidedInRedis(stdout);
  });

  it('works from src/ under tsx', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'));
    const file = join(dir, 'program.mts');
    writeFileSync(file, program(join(root, 'src/stores/redis/index.ts'), prefix));
    const { stdout } = await run(join(root, 'node_modules/.bin/tsx'), [file], { cwd: root });
    expectDecidedInRedis(stdout);
  });
});
