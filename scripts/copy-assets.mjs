/* global console */
// Copies what tsc does not emit into dist/: the dashboard's static files (src/**/dashboard/**) and Lua
// scripts (src/**/*.lua), keeping their paths under src/; and makes the `sluice` command executable, as
// tsc writes a new file without the mode npm gave the old one (`npx sluice` in a fresh or rebuilt
// checkout ran into "Permission denied"). Run by `npm run build` after tsc.
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

/** Whether a file under src/ is an asset to copy. */
function isAsset(rel) {
  if (rel.endsWith('.lua')) return true;
  return rel.split(sep).slice(0, -1).includes('dashboard') && !rel.endsWith('.ts');
}

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

let copied = 0;
for (const file of walk(src)) {
  const rel = relative(src, file);
  if (!isAsset(rel)) continue;
  const target = join(dist, rel);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
  copied++;
}
chmodSync(join(dist, 'cli', 'main.js'), 0o755);
console.log(`copy-assets: ${copied} files into dist/, dist/cli/main.js executable`);
