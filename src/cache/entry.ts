/**
 * A stored answer and the two ways it is served. An entry holds what the upstream sent — the JSON body
 * of a plain answer, or the SSE frames of a streamed one exactly as they came — and, for chat
 * completions, the other shape too, so that a streamed request can be answered from a plain answer and
 * the reverse (see `chat.ts`). Only whole successes become entries (see `recorder.ts`).
 */
import type { LlmKind } from '../protocol/endpoint.js';
import { chunksOfChat } from './chat.js';

export interface CachedAnswer {
  kind: LlmKind;
  status: number;
  /** Upstream headers kept for the replay (ids, model, organization; never rate-limit or length headers). */
  headers: Record<string, string>;
  /** The plain answer (for a chat stream, assembled from its chunks). */
  json?: Record<string, unknown>;
  /** The SSE frames of a streamed answer as the upstream sent them, without the final `[DONE]`. */
  frames?: string[];
  /** Whether the answer carries its usage (a stream without the usage chunk does not). */
  hasUsage: boolean;
  /** Tokens the answer used (`usage.total_tokens`): what a hit saves. */
  tokens: number;
  /** When it was stored (epoch ms, the cache's clock). */
  storedAt: number;
  /** Approximate size in bytes, for the memory bound. */
  bytes: number;
}

/** What a request wants of an answer. */
export interface Shape {
  stream: boolean;
  /** A streamed request asked for the usage chunk (`stream_options.include_usage`). */
  usage: boolean;
}

/** A served answer: the head and the body as text (JSON) or as SSE frames to write one by one. */
export type Served =
  | { status: number; headers: Record<string, string>; json: string }
  | { status: number; headers: Record<string, string>; frames: string[] };

/** Whether `entry` can answer a request of this shape (a chat entry serves both shapes). */
export function serves(entry: CachedAnswer, shape: Shape): boolean {
  if (shape.stream) {
    if (shape.usage && !entry.hasUsage) return false;
    return entry.frames !== undefined || (entry.kind === 'chat' && entry.json !== undefined);
  }
  return entry.json !== undefined && entry.hasUsage;
}

/** The answer for a request of this shape; call only when {@link serves} says it can. */
export function serve(entry: CachedAnswer, shape: Shape): Served {
  const headers = { ...entry.headers };
  if (!shape.stream) {
    return {
      status: entry.status,
      headers: { ...headers, 'content-type': 'application/json' },
      json: JSON.stringify(entry.json),
    };
  }
  const sse = { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
  if (entry.frames !== undefined) {
    // A chat stream stored with its usage chunk, for a request that did not ask for it: without that frame.
    const frames =
      shape.usage || entry.kind !== 'chat' ? entry.frames : entry.frames.filter((f) => !isUsageFrame(f));
    return { status: entry.status, headers: sse, frames: [...frames, ...doneFrame(entry.kind)] };
  }
  const chunks = chunksOfChat(entry.json!, shape.usage);
  return {
    status: entry.status,
    headers: sse,
    frames: [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'],
  };
}

/** OpenAI-style streams end with `[DONE]`; Anthropic's and the Responses API's end with their own event. */
function doneFrame(kind: LlmKind): string[] {
  return kind === 'messages' || kind === 'responses' ? [] : ['data: [DONE]\n\n'];
}

/** The usage chunk of a chat stream: `choices: []` and a usage. */
function isUsageFrame(frame: string): boolean {
  return frame.includes('"usage"') && /"choices"\s*:\s*\[\s*\]/.test(frame);
}
