/**
 * Watches a response body as it passes to the caller, without buffering it: each chunk is handed on as
 * soon as it is read (pull-based, high-water mark 0). Server-sent events are scanned line by line for
 * usage and for error events (a quota error can arrive inside a 200 stream); JSON bodies are kept (up to
 * a bound) so their usage can be read at the end.
 */
import { classifyStreamEvent } from '../engine/classify.js';
import { usageFromBody, usageFromStreamEvent, type Usage } from '../engine/cost.js';
import type { Classification } from '../engine/types.js';

export interface TapHooks {
  usage(usage: Usage): void;
  error(classification: Classification): void;
  /** Called once when the body ends, fails or is cancelled. */
  end(): void;
}

const MAX_JSON_BYTES = 4 * 1024 * 1024;

export function tapBody(
  body: ReadableStream<Uint8Array>,
  sse: boolean,
  hooks: TapHooks,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let ended = false;
  let pending = '';
  let usage: Usage | undefined;
  const kept: Uint8Array[] = [];
  let keptBytes = 0;

  const finish = () => {
    if (ended) return;
    ended = true;
    try {
      if (sse) {
        if (pending) scanLine(pending);
      } else if (keptBytes > 0 && keptBytes <= MAX_JSON_BYTES) {
        const text = decoder.decode(concat(kept, keptBytes));
        try {
          usage = usageFromBody(JSON.parse(text));
        } catch {
          // Not JSON: nothing to settle.
        }
      }
      if (usage) hooks.usage(usage);
    } finally {
      hooks.end();
    }
  };

  const scanLine = (line: string) => {
    if (!line.startsWith('data:')) return;
    const data = line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5);
    const found = usageFromStreamEvent(data);
    if (found) usage = { ...usage, ...found };
    const error = classifyStreamEvent(data);
    if (error) hooks.error(error);
  };

  const scan = (chunk: Uint8Array) => {
    const text = pending + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      scanLine(text.slice(start, end));
      start = nl + 1;
    }
    pending = text.slice(start);
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result;
        try {
          result = await reader.read();
        } catch (err) {
          finish();
          controller.error(err);
          return;
        }
        if (result.done) {
          finish();
          controller.close();
          return;
        }
        const chunk = result.value;
        if (sse) scan(chunk);
        else if (keptBytes <= MAX_JSON_BYTES) {
          kept.push(chunk);
          keptBytes += chunk.byteLength;
        }
        controller.enqueue(chunk);
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
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
