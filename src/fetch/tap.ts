/**
 * Watches a response body as it passes to the caller, without buffering it: each chunk is handed on as
 * soon as it is read (pull-based, high-water mark 0) and shown to every observer — the engine's
 * {@link BodyWatcher} (usage, errors in streams), the cache's recorder.
 */
import type { BodyObserver, BodyWatcher } from '../protocol/body-watch.js';

/** A {@link BodyWatcher} as an observer (it reports usage and errors however the body ends). */
export function watcherObserver(watcher: BodyWatcher): BodyObserver {
  return { push: (chunk) => watcher.push(chunk), finish: () => watcher.finish() };
}

export function tapBody(
  body: ReadableStream<Uint8Array>,
  observers: readonly BodyObserver[],
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const finish = (complete: boolean) => {
    if (ended) return;
    ended = true;
    for (const o of observers) o.finish(complete);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result;
        try {
          result = await reader.read();
        } catch (err) {
          finish(false);
          controller.error(err);
          return;
        }
        if (result.done) {
          finish(true);
          controller.close();
          return;
        }
        for (const o of observers) o.push(result.value);
        controller.enqueue(result.value);
      },
      cancel(reason) {
        finish(false);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
