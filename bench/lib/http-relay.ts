/**
 * An experiment, not a product path: the least an HTTP-aware proxy must do, on `node:net` with a framing
 * parser of its own instead of `node:http`. It reads each request's head (the request line and the
 * headers, into an array), finds its body by `Content-Length`, rewrites `Host`, and sends the request on
 * the client connection's own upstream connection; it reads each response's head and follows its
 * framing (`Content-Length` or chunked) to know where it ends, copying bytes to the client as they come.
 * Part 1 of bench:gateway runs it beside the TCP relay (no parsing) and the bare `node:http` proxy, to
 * measure what an HTTP layer cheaper than `node:http` could leave of the 1 ms p99 budget.
 *
 *   node --import tsx bench/lib/http-relay.ts <upstream origin>
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (port 0: any free one). Handles what the
 * benchmark sends (requests with `Content-Length`, one at a time per connection); anything else closes
 * the connection.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

const upstream = process.argv[2];
const match = upstream ? /^http:\/\/127\.0\.0\.1:(\d+)\/?$/.exec(upstream) : null;
if (!match) {
  process.stderr.write('usage: http-relay.ts <upstream origin, like http://127.0.0.1:8080>\n');
  process.exit(2);
}
const port = Number(match[1]);
const host = `127.0.0.1:${port}`;
const END = Buffer.from('\r\n\r\n');
const EMPTY: Buffer = Buffer.alloc(0);

/** A message head: the start line and the headers, lower-cased names. */
interface Head {
  start: string;
  headers: [string, string][];
  /** Bytes of the head, the blank line included. */
  size: number;
}

function readHead(buffer: Buffer): Head | undefined {
  const end = buffer.indexOf(END);
  if (end < 0) return undefined;
  const lines = buffer.toString('latin1', 0, end).split('\r\n');
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { start: lines[0]!, headers, size: end + 4 };
}

function header(head: Head, name: string): string | undefined {
  for (const [n, v] of head.headers) if (n === name) return v;
  return undefined;
}

/** Follows a response's framing; `feed` answers whether the response ended within `chunk`. */
class ResponseReader {
  #buffer: Buffer = EMPTY;
  #head: Head | undefined;
  /** Body bytes still to come (Content-Length), or -1 when chunked. */
  #left = 0;
  /** Chunked: bytes of the current chunk (and its CRLF) still to skip. */
  #skip = 0;
  /** Chunked: the chunk being skipped is the last one. */
  #last = false;

  feed(chunk: Buffer): boolean {
    if (!this.#head) {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      const head = readHead(this.#buffer);
      if (!head) return false;
      this.#head = head;
      const length = header(head, 'content-length');
      this.#left = length === undefined ? -1 : Number(length);
      chunk = this.#buffer.subarray(head.size);
      this.#buffer = EMPTY;
    }
    if (this.#left >= 0) {
      this.#left -= chunk.length;
      return this.#left <= 0 ? this.#reset() : false;
    }
    return this.#chunked(chunk);
  }

  #chunked(chunk: Buffer): boolean {
    const data = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#buffer = EMPTY;
    let at = 0;
    while (at < data.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - at);
        this.#skip -= n;
        at += n;
        if (this.#skip === 0 && this.#last) return this.#reset();
        continue;
      }
      const eol = data.indexOf('\r\n', at);
      if (eol < 0) {
        this.#buffer = Buffer.from(data.subarray(at));
        return false;
      }
      const size = parseInt(data.toString('latin1', at, eol), 16);
      at = eol + 2;
      // The last chunk (no trailers here): its blank line ends the response.
      this.#last = size === 0;
      this.#skip = size + 2;
    }
    return false;
  }

  #reset(): boolean {
    this.#head = undefined;
    this.#last = false;
    return true;
  }
}

function relay(client: Socket): void {
  const up = connect({ host: '127.0.0.1', port, noDelay: true });
  const reader = new ResponseReader();
  let pending: Buffer = EMPTY;
  const close = () => {
    client.destroy();
    up.destroy();
  };
  client.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const head = readHead(pending);
      if (!head) return;
      const length = Number(header(head, 'content-length') ?? 0);
      if (!Number.isFinite(length) || header(head, 'transfer-encoding')) return close();
      if (pending.length < head.size + length) return;
      let out = head.start + '\r\n';
      for (const [name, value] of head.headers) out += `${name}: ${name === 'host' ? host : value}\r\n`;
      up.write(out + '\r\n', 'latin1');
      if (length > 0) up.write(pending.subarray(head.size, head.size + length));
      pending = pending.subarray(head.size + length);
    }
  });
  up.on('data', (chunk: Buffer) => {
    reader.feed(chunk);
    client.write(chunk);
  });
  client.on('error', close);
  up.on('error', close);
  client.on('close', close);
  up.on('close', close);
}

const server = createServer({ noDelay: true }, relay);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
