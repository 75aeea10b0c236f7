/**
 * `/metrics` of a worker, in Prometheus text, on a registry of its own: the worker's counts (read from
 * its tally at scrape time) and, per lane, the limits and levels the engine keeps. Served on
 * `--metrics-port` when given (loopback unless `--metrics-host` says otherwise).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { WorkerCore } from './core.js';

/** The registry of one worker. */
export function workerRegistry(core: WorkerCore): Registry {
  const registry = new Registry();
  const t = core.tally;
  const registers = [registry];
  const messages = new Counter({
    name: 'sluice_worker_messages_total',
    help: 'Messages taken from the queue, by how they ended',
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ outcome: 'succeeded' }, t.succeeded);
      this.inc({ outcome: 'failed' }, t.failed);
      this.inc({ outcome: 'dead' }, t.dead);
      this.inc({ outcome: 'finished_before' }, t.finishedBefore);
      this.inc({ outcome: 'requeued' }, t.requeued);
    },
  });
  void messages;
  const simple = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  simple('sluice_worker_attempts_total', 'Attempts sent to the API', () => t.sent);
  simple('sluice_worker_rate_limited_total', 'Attempts answered 429', () => t.rateLimited);
  simple('sluice_worker_retries_total', 'Attempts retried', () => t.retries);
  simple('sluice_worker_quota_stops_total', 'Times consumption paused for a quota stop', () => t.quotaStops);
  simple(
    'sluice_worker_tokens_admitted_total',
    'Tokens admitted (estimates at admission)',
    () => t.tokensAdmitted,
  );
  new Gauge({
    name: 'sluice_worker_held_messages',
    help: 'Messages held by this worker (waiting for admission or on the wire)',
    registers,
    collect() {
      this.set(core.holding);
    },
  });
  new Gauge({
    name: 'sluice_worker_prefetch',
    help: 'Messages this worker may hold, from the pace',
    registers,
    collect() {
      this.set(core.prefetch);
    },
  });
  new Gauge({
    name: 'sluice_worker_backlog_messages',
    help: 'Messages waiting in the queue when last read',
    registers,
    collect() {
      if (t.backlog !== undefined) this.set(t.backlog);
    },
  });
  new Gauge({
    name: 'sluice_worker_paused',
    help: '1 while consumption is paused by a quota stop (or probing it)',
    registers,
    collect() {
      const k = core.state.kind;
      this.set(k === 'paused' || k === 'probing' ? 1 : 0);
    },
  });
  const limit = new Gauge({
    name: 'sluice_worker_lane_limit',
    help: 'A lane limit (configured or learned), per window',
    labelNames: ['lane', 'dimension', 'window'] as const,
    registers,
  });
  const level = new Gauge({
    name: 'sluice_worker_lane_level',
    help: 'A lane bucket level (what is used of the capacity)',
    labelNames: ['lane', 'dimension', 'window'] as const,
    registers,
  });
  const readLanes = async () => {
    limit.reset();
    level.reset();
    for (const lane of await core.engine.stats()) {
      for (const b of lane.buckets) {
        const labels = { lane: lane.lane, dimension: b.dimension, window: `${b.windowMs / 1000}s` };
        limit.set(labels, b.limit);
        level.set(labels, b.level);
      }
    }
  };
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    await readLanes();
    return metrics();
  };
  return registry;
}

/** Serves `GET /metrics` of `registry`; resolves with the server once it listens. */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${(err as Error).message}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
