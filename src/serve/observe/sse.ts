/**
 * `/api/stats` as a Server-Sent Events stream: a `snapshot` event every interval, a comment line as a
 * heartbeat (so proxies keep the connection open even when a snapshot fails), and nothing left behind
 * when the client goes: its loop ends on the response's `close`. A slow client is skipped rather than
 * buffered for: while the socket has not drained, no new snapshot is written.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../engine/clock.js';

export interface StreamOptions {
  clock: Clock;
  intervalMs: number;
  heartbeatMs: number;
  /** Streams open now; the stream adds itself and removes itself when it ends. */
  open: Set<AbortController>;
}

/** Whether the client asked for the stream (`Accept: text/event-stream` or `?stream=1`). */
export function wantsStream(req: IncomingMessage): boolean {
  if (String(req.headers['accept'] ?? '').includes('text/event-stream')) return true;
  const stream = new URL(req.url ?? '/', 'http://gateway').searchParams.get('stream');
  return stream === '1' || stream === 'true';
}

export async function streamSnapshots(
  res: ServerResponse,
  snapshot: () => Promise<unknown>,
  options: StreamOptions,
): Promise<void> {
  const stop = new AbortController();
  options.open.add(stop);
  res.on('close', () => stop.abort());
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let sinceBeat = 0;
  try {
    while (!stop.signal.aborted) {
      if (!res.writableNeedDrain) {
        try {
          const data = JSON.stringify(await snapshot());
          if (!stop.signal.aborted) res.write(`event: snapshot\ndata: ${data}\n\n`);
        } catch {
          // The next tick tries again; the heartbeat keeps the connection alive meanwhile.
        }
      }
      sinceBeat += options.intervalMs;
      if (sinceBeat >= options.heartbeatMs && !stop.signal.aborted) {
        sinceBeat = 0;
        res.write(': heartbeat\n\n');
      }
      await options.clock.sleep(options.intervalMs, stop.signal).catch(() => {});
    }
  } finally {
    options.open.delete(stop);
    if (!res.writableEnded) res.end();
  }
}
