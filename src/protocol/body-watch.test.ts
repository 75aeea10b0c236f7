import { describe, expect, it } from 'vitest';
import { BodyWatcher } from './body-watch.js';
import type { Usage } from '../engine/cost.js';

function watch(sse: boolean, text: string): Usage | undefined {
  let seen: Usage | undefined;
  const watcher = new BodyWatcher(sse, { usage: (u) => (seen = u), error: () => {}, end: () => {} });
  watcher.push(new TextEncoder().encode(text));
  watcher.finish();
  return seen;
}

describe('BodyWatcher usage', () => {
  it('totals an Anthropic stream from message_start input and message_delta output (regression: the total kept message_start’s placeholder output of 1)', () => {
    const stream = [
      'event: message_start',
      'data: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}',
      '',
      'event: message_delta',
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":40}}',
      '',
    ].join('\n');
    expect(watch(true, stream)).toEqual({ promptTokens: 25, completionTokens: 40, totalTokens: 65 });
  });

  it('keeps the total an event reports itself', () => {
    const chunk =
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":9}}\n\n';
    expect(watch(true, chunk)).toEqual({ promptTokens: 3, completionTokens: 2, totalTokens: 9 });
  });
});
