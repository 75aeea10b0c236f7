/**
 * What the errors file and stderr say about a failed request, in the words of someone running
 * `sluice batch`: the engine's own messages name library options (`retry.maxAttempts`, `maxQueue`), which
 * a command-line user cannot set; these name what they can do instead.
 */
import type { SluiceError } from '../engine/errors.js';
import { describeBody } from '../formats/openai-errors.js';

/** How a line that failed can be sent again later. */
const RESEND = 'later, --resume --retry-failed sends the line again';

/** The message stored for a request the engine failed with `err`. */
export function failureMessage(err: SluiceError): string {
  const attempts = err.attempts === undefined ? '' : ` after ${err.attempts} attempt(s)`;
  switch (err.code) {
    case 'upstream_error': {
      if (err.status !== undefined) {
        return `The API kept failing${attempts}, last with ${err.status}${describeBody(err.body)} (5xx, 408 and 409 are retried with backoff). It may be down or overloaded: check the provider's status page; ${RESEND}.`;
      }
      return `The API could not be reached${attempts}: ${describeCause(err.cause) ?? 'the connection failed'}. Check --base-url and the network; ${RESEND}.`;
    }
    case 'rate_limited':
      return `The API answered 429${attempts} to this request: the load is far above the account's limits. Give lower --rpm/--tpm (or a smaller --max-in-flight); ${RESEND}.`;
    default:
      return cliWords(err.message);
  }
}

/** Replaces advice about engine options by advice about flags. */
export function cliWords(message: string): string {
  return message
    .replace(/,? or raise retry\.maxAttempts\.?/g, `; ${RESEND}.`)
    .replace(/,? raise maxRateLimitRetries,?/g, ',')
    .replace(/ or raise maxQueue\.?/g, '.')
    .replace(/,? or raise the burst\.?/g, '. A --tpm at least as large as the request lets it through.')
    .replace(/Raise the max wait(?: or retry later)?\.?/g, `${RESEND[0]!.toUpperCase()}${RESEND.slice(1)}.`);
}

/** `insufficient_quota (You exceeded your current quota, …)` from a quota error's body. */
export function quotaDetail(err: SluiceError): string {
  const error = (err.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : 'insufficient_quota';
  const message = typeof error?.message === 'string' ? error.message : undefined;
  return message ? `${code} (${message})` : code;
}

/** A network error and its code, like `connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)`. */
function describeCause(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return cause === undefined ? undefined : String(cause);
  const code = (cause as NodeJS.ErrnoException).code;
  const inner = (cause as { cause?: unknown }).cause;
  const text = inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message;
  return code && !text.includes(code) ? `${text} (${code})` : text;
}

/** The start of a non-JSON answer, on one line, for a message. */
export function snippet(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}
