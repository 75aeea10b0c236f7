/**
 * The dashboard's static files: the page, its script and stylesheet from `src/serve/dashboard/` (copied
 * beside the compiled code into `dist/serve/dashboard/` by `scripts/copy-assets.mjs`), and uPlot from its
 * package. All are read once, when the gateway starts, so a broken install fails at start, not when
 * someone opens the page at 3 a.m.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

/** URL path → file, under `/dashboard`. */
const PAGE_FILES: Record<string, [file: string, type: string]> = {
  '': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};
const UPLOT_FILES: Record<string, [file: string, type: string]> = {
  '/uplot.js': ['uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
  '/uplot.css': ['uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
};

export function loadDashboardAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const dir = new URL('../dashboard/', import.meta.url);
  for (const [path, [file, type]] of Object.entries(PAGE_FILES)) {
    const url = new URL(file, dir);
    try {
      out.set(path, { body: readFileSync(url), type });
    } catch {
      throw new Error(
        `The dashboard file ${fileURLToPath(url)} is missing. Rebuild with npm run build (it copies src/serve/dashboard/ into dist/).`,
      );
    }
  }
  const require = createRequire(import.meta.url);
  for (const [path, [file, type]] of Object.entries(UPLOT_FILES)) {
    let resolved: string;
    try {
      resolved = require.resolve(file);
    } catch {
      throw new Error(`The dashboard needs the uplot package (${file}); reinstall with npm ci.`);
    }
    out.set(path, { body: readFileSync(resolved), type });
  }
  return out;
}
