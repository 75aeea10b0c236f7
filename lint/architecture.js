// @ts-check
/**
 * The architecture as a lint rule: which folder of src/ may import which. docs/architecture.md quotes
 * this table (a test keeps the two in step), and `npm test` fails on an import that breaks it.
 *
 * A folder may always import its own files and packages from node_modules. Files at the top of src/
 * are zones of their own, named by file. Test files (`*.test.ts`) may also import test/support/.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** @type {Record<string, readonly string[]>} zone → zones it may import; `*` = any. */
export const MAY_IMPORT = {
  'formats/': [],
  'engine/': ['formats/'],
  'protocol/': ['engine/', 'formats/'],
  'stores/': ['engine/', 'formats/'],
  'cache/': ['engine/', 'formats/', 'protocol/'],
  'fetch/': ['engine/', 'formats/', 'protocol/', 'stores/', 'cache/'],
  'batch/': ['engine/', 'formats/', 'protocol/', 'stores/'],
  'serve/': ['engine/', 'formats/', 'protocol/', 'stores/', 'cache/', 'version.ts'],
  'worker/': ['engine/', 'formats/', 'protocol/', 'stores/', 'cache/'],
  'mock/': ['formats/'],
  'cli/': ['*'],
  'index.ts': ['*'],
  'version.ts': [],
};

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** The zone of a path inside src/ (`engine/`, `index.ts`), or undefined outside src/. */
function zoneOf(/** @type {string} */ path) {
  const rel = relative(SRC, path);
  if (rel.startsWith('..') || rel === '') return undefined;
  const parts = rel.split(sep);
  // Imports name the compiled file (`../version.js`); the table names the source (`version.ts`).
  return parts.length === 1 ? parts[0].replace(/\.js$/, '.ts') : `${parts[0]}/`;
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Enforce the import table of docs/architecture.md' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const from = zoneOf(file);
    if (from === undefined) return {};
    const allowed = MAY_IMPORT[from];
    const isTest = file.endsWith('.test.ts');

    /** @param {import('estree').Node} node @param {unknown} source */
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = resolve(dirname(file), source);
      const to = zoneOf(target);
      if (to === from) return;
      if (to === undefined) {
        const underTestSupport = !relative(resolve(SRC, '..', 'test', 'support'), target).startsWith('..');
        if (isTest && underTestSupport) return;
        context.report({ node, message: `src/${from} may not import ${source}: it is outside src/.` });
        return;
      }
      if (allowed === undefined) {
        context.report({
          node,
          message: `src/${from} is not in the import table (lint/architecture.js): add it there and to docs/architecture.md.`,
        });
        return;
      }
      if (allowed.includes('*') || allowed.includes(to)) return;
      context.report({
        node,
        message: `src/${from} may not import src/${to} (${source}). It may import: ${allowed.length ? allowed.map((z) => `src/${z}`).join(', ') : 'nothing'} — see docs/architecture.md. Move what both need below them.`,
      });
    };

    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { imports: rule } };
