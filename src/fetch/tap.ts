/**
 * Watches a response body as it passes to the caller, without buffering it: each chunk is handed on as
 * soon as it is read (pull-based, high-water mark 0) and shown to a {@link BodyWatcher}.
 */
import { BodyWatcher, type WatchHooks } from '../protocol/body-watch.js';

export function tapBody(
  body: ReadableStream<Uint8Array>,
  sse: boolean,
  hooks: WatchHooks,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const watcher = new BodyWatcher(sse, hooks);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result;
        try {
          result = await reader.read();
        } catch (err) {
          watcher.finish();
          controller.error(err);
          return;
        }
        if (result.done) {
          watcher.finish();
          controller.close();
          return;
        }
        watcher.push(result.value);
        controller.enqueue(result.value);
      },
      cancel(reason) {
        watcher.finish();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
