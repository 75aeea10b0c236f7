/** Human units at the edges (flags, config files): durations like `90s` and sizes like `1mb`. */

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h`, or a bare number of milliseconds; `undefined` when not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * DURATION_MS[(m[2] ?? 'ms').toLowerCase()]!;
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i;
const SIZE_BYTES: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1_000_000,
  mib: 1024 ** 2,
  gb: 1_000_000_000,
  gib: 1024 ** 3,
};

/** `512kb`, `32mib`, `1gb`, or a bare number of bytes; `undefined` when not one. */
export function parseBytes(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'b').toLowerCase()]!);
}
