/**
 * The SHA1 of each Lua script, pinned. The store calls EVALSHA with these, so a script edited without its
 * hash would cost a second round trip on every call; `scripts.test.ts` fails until the two agree again.
 * The hash is of the script as sent, its includes (`lua/includes/`) in place: after editing a script or an
 * include, `scripts.test.ts` names each hash to paste here.
 */
export const SCRIPT_SHA1 = {
  reserve: 'b51600723a0924e785418d3dca68e89ea1cdf364',
  adjust: '96bb588a556a186e141fa37b276b2582b29faed3',
  raise: 'e7c83b431077f62d9d1a51acd3125ac06bed4ed4',
  cooldown: '39780c8ebbf1419504b25ff0abbf8c485e807168',
  snapshot: '64e9097ba2ad08a23f7ca9a7efbe729418c9eab3',
  clear: '2f9b668515db763a2df4796af6c31d0bab19a69e',
  heartbeat: '53f05e44e0a1aa3acf8d965585410b712fd19b42',
  release: 'cca34fc27520528419e11cafb3fe79c8f05436dc',
  renew: '7d85baf32c59342df1677305f67e9b15ec196476',
  trip: '6262f9b9518fb1eba12f9d491d89f817b6064746',
  untrip: '9ef9a4e2215681b48a0f65826a816fc6eafdf8da',
  learn: '0f3eeeb26779727df65a66b36743875af8e60edf',
} as const;

export type ScriptName = keyof typeof SCRIPT_SHA1;
