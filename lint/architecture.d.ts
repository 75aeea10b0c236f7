import type { ESLint } from 'eslint';

/** Zone (`engine/`, `index.ts`) → zones it may import; `*` = any. */
export const MAY_IMPORT: Record<string, readonly string[]>;
declare const plugin: ESLint.Plugin;
export default plugin;
