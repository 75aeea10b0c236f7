/**
 * Load generators for the gateway benchmark, on `node:http` with a keep-alive agent (the cheapest
 * client we have, so that the load generator's own cost stays small and the same for every target).
 *
 * - `openLoop`: requests start at a fixed arrival rate whatever the answers do (latency under a given
 *   load, as a service sees it); latency is measured from each request's start to the end of its body.
 * - `closedLoop`: a fixed number in flight, each sending its next request when its answer ends (peak
 *   throughput).
 */
import { Agent, request, type OutgoingHttpHeaders } from 'node:http';

export interface Target {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `/v1/chat/completions` */
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

export interface LoadResult {
  /** Latency of each answered request, ms. */
  latencies: number[];
  /** Answers that were not 200 (by status; 0 = connection error). */
  errors: Map<number, number>;
  /** Requests answered (any status). */
  answered: number;
  /** Measured time, ms. */
  ms: number;
  /** Open loop: requests sent by a late tick together with others (arrivals bunched, not spaced). */
  bunched?: number;
}

export class Client {
  readonly #agent: Agent;
  readonly #target: Target;
  readonly #host: string;
  readonly #port: number;
  readonly #headers: OutgoingHttpHeaders;

  constructor(target: Target, maxSockets: number) {
    this.#target = target;
    this.#agent = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 60_000 });
    const url = new URL(target.origin);
    this.#host = url.hostname;
    this.#port = Number(url.port);
    this.#headers = { ...target.headers, 'content-length': String(target.body.length) };
  }

  /** One request; resolves with its status (0 on a connection error) once the body has ended. */
  send(): Promise<number> {
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
          path: this.#target.path,
          method: 'POST',
          agent: this.#agent,
          headers: this.#headers,
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(this.#target.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function count(errors: Map<number, number>, status: number): void {
  errors.set(status, (errors.get(status) ?? 0) + 1);
}

/**
 * `rate` requests per second for `seconds`, each started on schedule (a 1 ms timer sends every request
 * whose time has come, so a late tick sends several at once rather than dropping them).
 */
export async function openLoop(client: Client, rate: number, seconds: number): Promise<LoadResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const errors = new Map<number, number>();
  const pending: Promise<void>[] = [];
  let answered = 0;
  const fire = () => {
    const start = performance.now();
    pending.push(
      client.send().then((status) => {
        answered++;
        if (status === 200) latencies.push(performance.now() - start);
        else count(errors, status);
      }),
    );
  };
  const start = performance.now();
  let sent = 0;
  let bunched = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      if (due - sent > 1) bunched += due - sent;
      while (sent < due) {
        fire();
        sent++;
      }
      if (sent >= total) return resolve();
      setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  return { latencies, errors, answered, ms: performance.now() - start, bunched };
}

/** `inFlight` requests at all times for `seconds`. */
export async function closedLoop(client: Client, inFlight: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const errors = new Map<number, number>();
  let answered = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const status = await client.send();
      answered++;
      if (status === 200) latencies.push(performance.now() - t);
      else count(errors, status);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { latencies, errors, answered, ms: performance.now() - start };
}
