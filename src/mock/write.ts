/**
 * The emulator's writers: a JSON answer, an SSE stream paced per token, and the faults injected while
 * writing them (a connection reset part-way through the body, a stream cut before its ending).
 *
 * Hot path: headers arrive as a flat array the caller built; bodies are strings written in as few
 * writes as the pacing allows.
 */
import type { ServerResponse } from 'node:http';
import type { StreamPlan } from './render.js';
import type { StatsRecorder } from './stats.js';

const JSON_TYPE = 'application/json';
const SSE_TYPE = 'text/event-stream; charset=utf-8';

/** What a paced or faulty answer needs from the emulator. */
export interface WriteContext {
  readonly stats: StatsRecorder;
  /** Milliseconds per generated token (0: no pacing). */
  readonly msPerToken: number;
  /** setTimeout that the emulator's `close()` cancels. */
  later(ms: number, fn: () => void): void;
}

/** A whole JSON answer with its length. */
export function sendJson(res: ServerResponse, status: number, body: string, headers: string[]): void {
  if (res.destroyed) return;
  headers.push('content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(body)));
  res.writeHead(status, headers);
  res.end(body);
}

/** A JSON answer; `reset` cuts the connection after part of the body. */
export function writeJson(
  ctx: WriteContext,
  res: ServerResponse,
  headers: string[],
  body: string,
  reset: boolean,
  cutDice: number,
  settle: (() => void) | undefined,
): void {
  if (!reset) {
    sendJson(res, 200, body, headers);
    settle?.();
    return;
  }
  const bytes = Buffer.from(body);
  headers.push('content-type', JSON_TYPE, 'content-length', String(bytes.length));
  res.writeHead(200, headers);
  ctx.stats.errors.resets += 1;
  res.write(bytes.subarray(0, 1 + Math.floor(cutDice * (bytes.length - 1))), () => res.destroy());
}

/**
 * An SSE answer. Frames carrying tokens wait `msPerToken` each; a cut ends the stream cleanly before
 * its ending, a reset destroys the connection at the same point.
 */
export function writeStream(
  ctx: WriteContext,
  res: ServerResponse,
  headers: string[],
  plan: StreamPlan,
  reset: boolean,
  cut: boolean,
  cutDice: number,
  settle: (() => void) | undefined,
): void {
  const stats = ctx.stats;
  headers.push('content-type', SSE_TYPE, 'cache-control', 'no-cache');
  res.writeHead(200, headers);
  const { frames, tokens } = plan;
  // Frames [0, stop) are sent; a cut or reset stops somewhere in [1, endsAt].
  const stop = reset || cut ? 1 + Math.floor(cutDice * plan.endsAt) : frames.length;
  const finish = (): void => {
    if (reset) {
      stats.errors.resets += 1;
      res.destroy();
      return;
    }
    if (cut) stats.errors.streamCuts += 1;
    res.end();
    settle?.();
  };
  const msPerToken = ctx.msPerToken;
  if (msPerToken === 0) {
    const text = (stop === frames.length ? frames : frames.slice(0, stop)).join('');
    if (reset) {
      res.write(text, finish);
      return;
    }
    if (cut) stats.errors.streamCuts += 1;
    // One write with the end of the chunked body: headers, frames and terminator leave together.
    res.end(text);
    settle?.();
    return;
  }
  let i = 0;
  const pump = (): void => {
    if (res.destroyed) return;
    // Send every frame up to the next one that carries a token, then wait for that token.
    let batch = '';
    while (i < stop) {
      batch += frames[i];
      i += 1;
      if (i < stop && tokens[i]! > 0) break;
    }
    if (i >= stop) {
      if (reset) res.write(batch, finish);
      else {
        res.write(batch);
        finish();
      }
      return;
    }
    res.write(batch);
    ctx.later(tokens[i]! * msPerToken, pump);
  };
  if (tokens[0]! > 0) ctx.later(tokens[0]! * msPerToken, pump);
  else pump();
}
