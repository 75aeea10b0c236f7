/**
 * The SHA1 of each Lua script, pinned. The store calls EVALSHA with these, so a script edited without its
 * hash would cost a second round trip on every call; `scripts.test.ts` fails until the two agree again.
 * After editing `lua/<name>.lua`, run `sha1sum src/stores/redis/lua/<name>.lua` and paste the hash here.
 */
export const SCRIPT_SHA1 = {
  reserve: '9ab8e890ce39ea09ea2426b4729dfb23181a3d25',
  adjust: 'c6d83f20b5cd89c6b5ddedf2985319decfd0b93e',
  raise: 'b86697c166e0e5c03d718442ff631446ad25518e',
  cooldown: '52bd29771cc6c6be5290fa38640eb3fb631fd13b',
  snapshot: '6b507ffdf349ee1900c732d5ea9d64bcf88ca253',
  clear: '69a36eb0ddfa49eef6c14554646360afa9a8f4fe',
  heartbeat: '53f05e44e0a1aa3acf8d965585410b712fd19b42',
} as const;

export type ScriptName = keyof typeof SCRIPT_SHA1;
