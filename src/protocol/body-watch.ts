/**
 * Watches an answer's body as it passes to the caller, chunk by chunk, without holding it back: server-
 * sent events are scanned line by line for usage and for error events (a quota error can arrive inside a
 * 200 stream); a JSON body is kept (up to a bound) so its usage can be read at the end. Push-based, so
 * that every shell can feed it from its own kind of stream (web streams in `createFetch()`, Node streams
 * in the gateway).
 */
import { classifyStreamEvent } from '../engine/classify.js';
import { usageFromBody, usageFromStreamEvent, type Usage } from '../engine/cost.js';
import type { Classification } from '../engine/types.js';
import { parseJson } from '../formats/json.js';

export interface WatchHooks {
  usage(usage: Usage): void;
  error(classification: Classification): void;
  /** Called once when the body ends, fails or is cancelled. */
  end(): void;
}

/** Anything that watches a body pass: the watcher below, the response cache's recorder. */
export interface BodyObserver {
  push(chunk: Uint8Array): void;
  /** Once: `complete` is true when the body ended, false when it failed or was cancelled. */
  finish(complete: boolean): void;
}

/** JSON bodies longer than this are not read for usage. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

export class BodyWatcher {
  readonly #sse: boolean;
  readonly #hooks: WatchHooks;
  readonly #decoder = new TextDecoder();
  #ended = false;
  #pending = '';
  #usage: Usage | undefined;
  readonly #kept: Uint8Array[] = [];
  #keptBytes = 0;

  constructor(sse: boolean, hooks: WatchHooks) {
    this.#sse = sse;
    this.#hooks = hooks;
  }

  /** One chunk of the body, as it passes. */
  push(chunk: Uint8Array): void {
    if (this.#sse) this.#scan(chunk);
    else if (this.#keptBytes <= MAX_JSON_BYTES) {
      this.#kept.push(chunk);
      this.#keptBytes += chunk.byteLength;
    }
  }

  /** The body ended (or failed, or was cancelled): reports usage if any, then `end`. Idempotent. */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      if (this.#sse) {
        if (this.#pending) this.#line(this.#pending);
      } else if (this.#keptBytes > 0 && this.#keptBytes <= MAX_JSON_BYTES) {
        this.#usage = usageFromBody(parseJson(this.#decoder.decode(concat(this.#kept, this.#keptBytes))));
      }
      if (this.#usage) this.#hooks.usage(this.#usage);
    } finally {
      this.#hooks.end();
    }
  }

  #scan(chunk: Uint8Array): void {
    const text = this.#pending + this.#decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      this.#line(text.slice(start, end));
      start = nl + 1;
    }
    this.#pending = text.slice(start);
  }

  #line(line: string): void {
    if (!line.startsWith('data:')) return;
    const data = line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5);
    const found = usageFromStreamEvent(data);
    if (found) this.#usage = mergeUsage(this.#usage, found);
    const error = classifyStreamEvent(data);
    if (error) this.#hooks.error(error);
  }
}

/**
 * Usage spread over stream events, later events winning field by field. Anthropic's `message_start`
 * reports the input and a placeholder output of 1, `message_delta` the real output alone: a total
 * derived from the first event would be stale, so it is derived again from the merged figures.
 */
export function mergeUsage(prior: Usage | undefined, next: Usage): Usage {
  const merged: Usage = { ...prior, ...next };
  if (
    next.totalTokens === undefined &&
    merged.promptTokens !== undefined &&
    merged.completionTokens !== undefined
  )
    merged.totalTokens = merged.promptTokens + merged.completionTokens;
  return merged;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}
