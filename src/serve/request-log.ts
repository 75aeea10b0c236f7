/**
 * The gateway's request log: one JSON line per answered request (lane, app, outcome, queued ms, attempts,
 * status — never a key, never a prompt). Lines are built by hand (the fields are known, and only the
 * strings need escaping) and written once per turn of the event loop, however many requests ended in it:
 * at a thousand requests a second that is a few writes instead of a thousand.
 */
import type { RequestRecord } from './context.js';

export interface RequestLog {
  /** Queues the record's line; it is written at the end of this turn. */
  onRequest(record: RequestRecord): void;
  /** Writes what is queued now (on shutdown). */
  flush(): void;
}

export function requestLog(write: (text: string) => void, clock: () => number = Date.now): RequestLog {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  };
  return {
    onRequest(record) {
      pending += `${logLine(record, clock())}\n`;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

/** One record as a JSON line (without its newline). */
export function logLine(r: RequestRecord, at: number): string {
  let line = `{"time":"${isoTime(at)}","method":${str(r.method)},"path":${str(r.path)}`;
  if (r.lane) line += `,"lane":${str(r.lane)}`;
  if (r.app) line += `,"app":${str(r.app)}`;
  if (r.priority) line += `,"priority":${str(r.priority)}`;
  return `${line},"outcome":${str(r.outcome)},"status":${r.status},"queued_ms":${Math.round(r.queuedMs)},"attempts":${r.attempts},"duration_ms":${Math.round(r.durationMs)}}`;
}

// The time as `toISOString()` writes it, formatted once per second: within it only the milliseconds
// change.
let second = Number.NaN;
let prefix = '';
function isoTime(at: number): string {
  const ms = Math.floor(at) % 1000;
  const s = Math.floor(at) - ms;
  if (s !== second) {
    second = s;
    prefix = new Date(s).toISOString().slice(0, -4);
  }
  return `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
}

/** A JSON string literal; plain text (the usual case) skips `JSON.stringify`. */
function str(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(text);
  }
  return `"${text}"`;
}
