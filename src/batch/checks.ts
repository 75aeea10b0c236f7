/**
 * Checks of the base URL and the API key made before anything is sent, so a typo is one clear message
 * (exit 2) rather than every line tried five times. None of them ever prints a key.
 */

/** What is wrong with a base URL, or `undefined` when it is an http(s) URL. */
export function baseUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return /^[\w.-]+(:\d+)?(\/|$)/.test(url)
      ? `has no scheme (did you mean http://${url} or https://${url}?)`
      : 'is not a URL';
  }
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return undefined;
  // `localhost:8080/v1` parses as the scheme `localhost:`.
  if (/^[\w.-]+:\d+(\/|$)/.test(url)) return `has no scheme (did you mean http://${url}?)`;
  return `uses ${parsed.protocol.replace(/:$/, '')}://, but the API is reached over http:// or https://`;
}

/** Names of environment variables: what `--api-key-env` takes. */
export function isEnvName(text: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(text);
}

/** Whether `text` looks like an API key rather than a variable name (`sk-…`, long random text). */
export function looksLikeKey(text: string): boolean {
  return /^(sk|rk|pk)[-_]/i.test(text) || (text.length >= 24 && /\d/.test(text) && !/\s/.test(text));
}

/**
 * What is wrong with an API key, without showing it: a character an HTTP header cannot carry (a line
 * break or a `\r` from a copied file, a space, a non-ASCII character) and where it is.
 */
export function keyProblem(key: string): string | undefined {
  const at = key.search(/[^\x21-\x7e]/);
  if (at === -1) return undefined;
  const c = key.charCodeAt(at);
  const what =
    c === 0x0d
      ? 'a carriage return (\\r)'
      : c === 0x0a
        ? 'a line break (\\n)'
        : c === 0x20
          ? 'a space'
          : c === 0x09
            ? 'a tab'
            : c < 0x20 || c === 0x7f
              ? `a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')})`
              : `a non-ASCII character (U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
  const where =
    at === key.length - 1
      ? 'at its end'
      : at === 0
        ? 'at its start'
        : `at position ${at + 1} of ${key.length}`;
  return `contains ${what} ${where}, which cannot be sent in an HTTP header (often a newline left by copying the key from a file)`;
}
