/**
 * The SHA1 of each Lua script, pinned. The store calls EVALSHA with these, so a script edited without its
 * hash would cost a second round trip on every call; `scripts.test.ts` fails until the two agree again.
 * After editing `lua/<name>.lua`, run `sha1sum src/stores/redis/lua/<name>.lua` and paste the hash here.
 */
export const SCRIPT_SHA1 = {
  reserve: '3cb82d7d25d2b64e2c4ff3fc3bafca930348f8ee',
  adjust: '200f3ebc93071c2d29d937aaca1ef274430d928f',
  raise: 'ad78485ad3a42b1b3b3233a0410d3b87251509f4',
  cooldown: '39780c8ebbf1419504b25ff0abbf8c485e807168',
  snapshot: '6b507ffdf349ee1900c732d5ea9d64bcf88ca253',
  clear: '69a36eb0ddfa49eef6c14554646360afa9a8f4fe',
  heartbeat: '53f05e44e0a1aa3acf8d965585410b712fd19b42',
} as const;

export type ScriptName = keyof typeof SCRIPT_SHA1;
