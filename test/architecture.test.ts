/**
 * The import table is a lint rule (lint/architecture.js); these tests show that it refuses what it must
 * and that docs/architecture.md quotes it exactly.
 */
import { readFile } from 'node:fs/promises';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { MAY_IMPORT } from '../lint/architecture.js';

const eslint = new ESLint();

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'architecture/imports').map((m) => m.message);
}

describe('the import table as lint', () => {
  it.each([
    [
      'a shell importing another shell',
      'src/batch/fixture.ts',
      "import { createFetch } from '../fetch/create-fetch.js';",
    ],
    ['the engine importing a shell', 'src/engine/fixture.ts', "export { x } from '../fetch/tap.js';"],
    [
      'the engine importing the protocol layer',
      'src/engine/fixture.ts',
      "import { adaptRequest } from '../protocol/adapt.js';",
    ],
    [
      'the emulator importing the engine',
      'src/mock/fixture.ts',
      "import { classify } from '../engine/classify.js';",
    ],
    [
      'the emulator importing a shell',
      'src/mock/dialects/fixture.ts',
      "import type { BatchRun } from '../../batch/runner.js';",
    ],
    [
      'formats importing anything',
      'src/formats/fixture.ts',
      "import type { Usage } from '../engine/cost.js';",
    ],
    [
      'the protocol layer importing a shell',
      'src/protocol/fixture.ts',
      "const m = await import('../batch/runner.js');",
    ],
    [
      'a source file importing test helpers',
      'src/fetch/fixture.ts',
      "import { json } from '../../test/support/server.js';",
    ],
  ])('refuses %s', async (_name, file, code) => {
    const found = await problems(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/may not import/);
  });

  it.each([
    [
      'a shell importing the protocol layer',
      'src/batch/fixture.ts',
      "import { adaptRequest } from '../protocol/adapt.js';",
    ],
    [
      'the engine importing formats',
      'src/engine/fixture.ts',
      "import { isRecord } from '../formats/json.js';",
    ],
    ['the CLI importing a shell', 'src/cli/fixture.ts', "import { BatchRun } from '../batch/runner.js';"],
    [
      'a test importing test helpers',
      'src/fetch/fixture.test.ts',
      "import { json } from '../../test/support/server.js';",
    ],
    ['a folder importing itself', 'src/mock/dialects/fixture.ts', "import { x } from '../server.js';"],
    [
      'a shell importing a top-level file it may import by its compiled name (version.ts as ../version.js)',
      'src/serve/observe/fixture.ts',
      "import { VERSION } from '../../version.js';",
    ],
  ])('allows %s', async (_name, file, code) => {
    expect(await problems(file, code)).toEqual([]);
  });

  it('is quoted exactly by docs/architecture.md', async () => {
    const doc = await readFile(new URL('../docs/architecture.md', import.meta.url), 'utf8');
    const table: Record<string, string[]> = {};
    for (const line of doc.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      const zone = /^`src\/([^`]+)`$/.exec(cells[1] ?? '')?.[1];
      if (!zone || cells.length < 5) continue;
      const may = cells[3]!;
      table[zone] =
        may === 'anything'
          ? ['*']
          : may === 'nothing'
            ? []
            : [...may.matchAll(/`src\/([^`]+)`/g)].map((m) => m[1]!);
    }
    const expected = Object.fromEntries(
      Object.entries(MAY_IMPORT).map(([zone, list]) => [zone, [...list].sort()]),
    );
    const documented = Object.fromEntries(Object.entries(table).map(([zone, list]) => [zone, list.sort()]));
    expect(documented).toEqual(expected);
  });
});
