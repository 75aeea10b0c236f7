/**
 * Records an answer as it passes to the caller, to store it once it has ended well. Only whole
 * successes become entries: a 2xx whose JSON is an object without an error, or a stream that ended the
 * way its API ends a stream (`[DONE]`, Anthropic's `message_stop`, the Responses API's
 * `response.completed`) with no error event in it. A cut or aborted stream, an error, an answer over the
 * size bound, or one whose upstream said `no-store` is never stored.
 */
import { isRecord, parseJson } from '../formats/json.js';
import type { LlmKind } from '../protocol/endpoint.js';
import { assembleChat } from './chat.js';
import type { CachedAnswer } from './entry.js';
import { forbidsStore } from './policy.js';

/** Upstream headers a replay keeps. */
const KEPT = [
  'x-request-id',
  'openai-model',
  'openai-organization',
  'openai-version',
  'openai-project',
  'request-id',
];

export interface RecordHead {
  kind: LlmKind;
  status: number;
  headers: { get(name: string): string | null };
  /** The answer is an SSE stream. */
  sse: boolean;
}

export class AnswerRecorder {
  readonly #head: RecordHead;
  readonly #maxBytes: number;
  readonly #decoder = new TextDecoder();
  #text = '';
  #bytes = 0;
  #over = false;

  constructor(head: RecordHead, maxBytes: number) {
    this.#head = head;
    this.#maxBytes = maxBytes;
  }

  /** Whether this answer can become an entry at all (a 2xx the upstream lets be stored). */
  get wanted(): boolean {
    const h = this.#head;
    return h.status >= 200 && h.status < 300 && !forbidsStore(h.headers.get('cache-control'));
  }

  push(chunk: Uint8Array): void {
    if (this.#over) return;
    this.#bytes += chunk.byteLength;
    if (this.#bytes > this.#maxBytes) {
      this.#over = true;
      this.#text = '';
      return;
    }
    this.#text += this.#decoder.decode(chunk, { stream: true });
  }

  /** The entry, when the answer ended well and fits; `undefined` otherwise. */
  entry(now: number): CachedAnswer | undefined {
    if (this.#over || !this.wanted) return undefined;
    const text = this.#text + this.#decoder.decode();
    const h = this.#head;
    const headers: Record<string, string> = {};
    for (const name of KEPT) {
      const value = h.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const base = { kind: h.kind, status: h.status, headers, storedAt: now, bytes: this.#bytes * 2 };
    if (!h.sse) {
      const json = parseJson(text);
      if (!isRecord(json) || (json['error'] !== undefined && json['error'] !== null)) return undefined;
      return { ...base, json, hasUsage: true, tokens: tokensOf(json['usage']) };
    }
    const frames = text
      .split(/\r?\n\r?\n/)
      .filter((f) => f.trim() !== '')
      .map((f) => `${f}\n\n`);
    const events: unknown[] = [];
    let ended = false;
    for (const frame of frames) {
      for (const line of frame.split(/\r?\n/)) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          ended = true;
          continue;
        }
        const event = parseJson(data);
        if (!isRecord(event) || isError(event)) return undefined;
        if (event['type'] === 'message_stop' || event['type'] === 'response.completed') ended = true;
        events.push(event);
      }
    }
    if (!ended) return undefined;
    const kept = frames.filter((f) => !/^data:\s*\[DONE\]/m.test(f));
    const usage = lastUsage(events);
    const entry: CachedAnswer = {
      ...base,
      frames: kept,
      hasUsage: usage !== undefined,
      tokens: tokensOf(usage),
    };
    if (h.kind === 'chat') entry.json = assembleChat(events);
    return entry;
  }
}

function isError(event: Record<string, unknown>): boolean {
  return (
    (event['error'] !== undefined && event['error'] !== null) ||
    event['type'] === 'error' ||
    event['type'] === 'response.failed'
  );
}

/** The usage a stream reported last (OpenAI's usage chunk, Anthropic's `message_delta`, a Responses `response.completed`). */
function lastUsage(events: readonly unknown[]): Record<string, unknown> | undefined {
  let usage: Record<string, unknown> | undefined;
  for (const e of events) {
    if (!isRecord(e)) continue;
    if (isRecord(e['usage'])) usage = e['usage'];
    const response = e['response'];
    if (isRecord(response) && isRecord(response['usage'])) usage = response['usage'];
  }
  return usage;
}

function tokensOf(usage: unknown): number {
  if (!isRecord(usage)) return 0;
  const total = usage['total_tokens'];
  if (typeof total === 'number') return total;
  const parts = ['prompt_tokens', 'completion_tokens', 'input_tokens', 'output_tokens'].map((k) => usage[k]);
  return parts.reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0);
}
