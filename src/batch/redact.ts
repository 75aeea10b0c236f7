/**
 * Keeping the API key out of everything a run writes. Upstreams echo keys back — OpenAI's 401 says
 * "Incorrect API key provided: sk-proj-****abcd", others quote the whole key or a long piece of it — and
 * those answers go to stderr and the errors file. The redactor replaces the key, and any piece of it of
 * {@link REDACT_MIN} characters or more, with `[redacted]`.
 */

/** Pieces of the key this long or longer are redacted (shorter ones, like `sk-proj-`, say nothing). */
export const REDACT_MIN = 9;
const MARK = '[redacted]';

export interface Redactor {
  /** The text with every piece of the key replaced. */
  text(text: string): string;
  /** A JSON value with every string in it redacted (a copy when something changed, else the value). */
  value<T>(value: T): T;
  /** Whether `text` may hold a piece of the key (a fast check; false means certainly not). */
  suspect(text: string): boolean;
}

const identity: Redactor = { text: (t) => t, value: (v) => v, suspect: () => false };

/**
 * A redactor for `key`. It changes nothing without a key, or for one shorter than 8 characters (no real
 * key is that short, and redacting so short a string would mangle ordinary text).
 */
export function keyRedactor(key: string | undefined): Redactor {
  if (!key || key.length < 8) return identity;
  const min = Math.min(REDACT_MIN, key.length);
  // Any piece of `min` characters contains one whole aligned block of half that size.
  const size = Math.max(1, Math.ceil(min / 2));
  const blocks: string[] = [];
  for (let i = 0; i + size <= key.length; i += size) blocks.push(key.slice(i, i + size));
  if (key.length % size !== 0) blocks.push(key.slice(-size));
  const suspect = (text: string) => blocks.some((b) => text.includes(b));

  const text = (input: string): string => {
    if (!suspect(input)) return input;
    let out = '';
    let i = 0;
    while (i < input.length) {
      const length = longestPiece(key, input, i);
      if (length >= min) {
        out += MARK;
        i += length;
      } else {
        out += input[i];
        i++;
      }
    }
    return out;
  };

  const value = <T>(v: T): T => {
    if (typeof v === 'string') return text(v) as T;
    if (Array.isArray(v)) {
      let changed = false;
      const next = v.map((x: unknown) => {
        const r = value(x);
        if (r !== x) changed = true;
        return r;
      });
      return (changed ? next : v) as T;
    }
    if (typeof v === 'object' && v !== null) {
      let changed = false;
      const next: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        const r = value(x);
        if (r !== x) changed = true;
        next[text(k)] = r;
        if (text(k) !== k) changed = true;
      }
      return (changed ? next : v) as T;
    }
    return v;
  };

  return { text, value, suspect };
}

/** The length of the longest piece of `key` that `text` holds starting at `at`. */
function longestPiece(key: string, text: string, at: number): number {
  let best = 0;
  const first = text.charCodeAt(at);
  for (let j = key.indexOf(text[at]!); j !== -1; j = key.indexOf(text[at]!, j + 1)) {
    if (key.charCodeAt(j) !== first) continue;
    let n = 1;
    while (j + n < key.length && at + n < text.length && key.charCodeAt(j + n) === text.charCodeAt(at + n))
      n++;
    if (n > best) best = n;
  }
  return best;
}
