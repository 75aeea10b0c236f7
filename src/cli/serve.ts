import { InvalidArgumentError, type Command } from 'commander';
import { PRIORITIES } from '../engine/events.js';
import { MOCK_DEFAULTS, startMock, type MockFlavor, type MockServer } from '../mock/index.js';
import { ConfigError, FLAVORS, loadConfig, type Flavor, type GatewayConfig } from '../serve/config.js';
import { GATEWAY_DEFAULTS, startGateway, type Gateway } from '../serve/gateway.js';
import { AdminTokenError, isLoopback, observer } from '../serve/observe/index.js';
import type { RequestRecord } from '../serve/proxy.js';
import { parseBytes, parseDuration } from '../serve/units.js';

const OPENAI = 'https://api.openai.com/v1';

interface Flags {
  port: number;
  host: string;
  upstream?: string;
  flavor?: Flavor;
  config?: string;
  redis?: string;
  rpm?: number;
  tpm?: number;
  maxWait?: number;
  maxBody: number;
  grace: number;
  log: 'json' | 'off';
  adminTokenEnv: string;
}

const ADMIN_TOKEN_ENV = 'SLUICE_ADMIN_TOKEN';

function port(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65_535)
    throw new InvalidArgumentError('Expected a port from 0 to 65535.');
  return value;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1)
    throw new InvalidArgumentError('Expected a whole number from 1 up, like 500.');
  return value;
}

function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('Expected a duration such as 500ms, 30s or 2m.');
  return ms;
}

function bytes(text: string): number {
  const n = parseBytes(text);
  if (n === undefined || n < 1) throw new InvalidArgumentError('Expected a size such as 512kb, 32mb or 1gb.');
  return n;
}

function flavor(text: string): Flavor {
  if (!(FLAVORS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`Expected one of ${FLAVORS.join(', ')}.`);
  return text as Flavor;
}

/** Registers `sluice serve` (the gateway). */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .summary('run the OpenAI-compatible gateway that paces every service sharing a key')
    .description(
      [
        'Run an OpenAI-compatible gateway. Every service (any language) points its base URL at it',
        '(OPENAI_BASE_URL=http://127.0.0.1:8787/v1) and one engine paces them all: requests queue',
        'instead of failing with 429, by priority (interactive > default > batch) and fair share,',
        'retried inside the gateway when that is right. Quota errors come back at once.',
        '',
        'By default each client sends its own API key, and each key is its own lane. With --config,',
        'apps get virtual keys, priorities, weights and sub-limits, and the gateway holds the real keys.',
        '',
        'Without --upstream, $OPENAI_BASE_URL or $OPENAI_API_KEY, it starts against the built-in',
        'emulator (--upstream mock), so the dashboard and pacing can be seen with no account.',
      ].join('\n'),
    )
    .option('--port <port>', 'port to listen on (0 picks a free one)', port, GATEWAY_DEFAULTS.port)
    .option(
      '--host <host>',
      'interface to bind; beyond loopback the dashboard needs an admin token',
      GATEWAY_DEFAULTS.host,
    )
    .option(
      '--upstream <url>',
      `upstream base URL, or "mock" for the built-in emulator (default: $OPENAI_BASE_URL, else ${OPENAI})`,
    )
    .option('--flavor <name>', `upstream dialect: ${FLAVORS.join(', ')} (default: openai)`, flavor)
    .option(
      '--config <file>',
      'YAML file with virtual keys, limits and the default deadline (SIGHUP reloads it)',
    )
    .option('--redis <url>', 'share limits with other gateways and processes through Redis')
    .option('--rpm <n>', 'requests per minute per lane (default: learned from the headers)', positiveInteger)
    .option('--tpm <n>', 'tokens per minute per lane (default: learned from the headers)', positiveInteger)
    .option(
      '--max-wait <duration>',
      `longest a request waits for admission before a 429 (default: ${GATEWAY_DEFAULTS.maxWaitMs / 1000}s)`,
      duration,
    )
    .option('--max-body <size>', 'request bodies above this get 413', bytes, GATEWAY_DEFAULTS.maxBodyBytes)
    .option(
      '--grace <duration>',
      'on SIGTERM, how long in-flight and queued requests may take',
      duration,
      GATEWAY_DEFAULTS.graceMs,
    )
    .option(
      '--admin-token-env <name>',
      'environment variable holding the admin token that /dashboard and /api/stats need beyond loopback',
      (v) => {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v))
          throw new InvalidArgumentError(
            'Expected the name of an environment variable, like SLUICE_ADMIN_TOKEN.',
          );
        return v;
      },
      ADMIN_TOKEN_ENV,
    )
    .option(
      '--log <format>',
      'one line per request on stdout: json or off',
      (v) => {
        if (v !== 'json' && v !== 'off') throw new InvalidArgumentError('Expected json or off.');
        return v;
      },
      'json',
    )
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  sluice serve --upstream mock                 try it: the emulator, pacing and the dashboard',
        '  sluice serve                                 forward to api.openai.com; clients send their keys',
        '  sluice serve --config sluice.yaml --rpm 500  virtual keys and limits from a file',
        '',
        'Clients: OPENAI_BASE_URL=http://127.0.0.1:8787/v1; per request, the headers',
        `x-sluice-priority (${PRIORITIES.join('|')}) and x-sluice-max-wait-ms.`,
        'Endpoints: /v1/* (and /openai/* for Azure), /healthz, /readyz, /metrics, /dashboard, /api/stats.',
        `Beyond loopback (--host 0.0.0.0) /dashboard and /api/stats need the token in $${ADMIN_TOKEN_ENV}`,
        '(or the variable named by --admin-token-env); /metrics stays open.',
      ].join('\n'),
    )
    .action(async (flags: Flags) => {
      process.exitCode = await runServe(flags);
    });
}

async function runServe(flags: Flags): Promise<number> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  if (flags.redis !== undefined) {
    say('sluice serve: --redis is not available in this version yet; run one gateway, or see docs/serve.md.');
    return 2;
  }
  const adminToken = process.env[flags.adminTokenEnv] || undefined;
  if (!isLoopback(flags.host) && adminToken === undefined) {
    say(
      `sluice serve: --host ${flags.host} is beyond loopback, so /dashboard and /api/stats need an admin token, and $${flags.adminTokenEnv} is not set.`,
    );
    say(`  Set one (export ${flags.adminTokenEnv}=$(openssl rand -hex 32)), or bind --host 127.0.0.1.`);
    return 2;
  }
  let config: GatewayConfig | undefined;
  if (flags.config) {
    try {
      config = await loadConfig(flags.config);
    } catch (err) {
      if (err instanceof ConfigError) {
        say(`sluice serve: ${err.message}`);
        return 2;
      }
      throw err;
    }
  }
  let upstream = flags.upstream ?? config?.upstream ?? process.env['OPENAI_BASE_URL'];
  if (upstream === undefined && !process.env['OPENAI_API_KEY']) {
    say('sluice serve: no upstream given and no OPENAI_API_KEY set: starting against the built-in emulator.');
    say(
      `  For OpenAI: export OPENAI_API_KEY (clients may send their own keys) or pass --upstream ${OPENAI}.`,
    );
    say('  For another provider: --upstream <base URL> (and --flavor azure|anthropic).');
    upstream = 'mock';
  }
  upstream ??= OPENAI;
  const chosenFlavor = flags.flavor ?? config?.flavor ?? 'openai';

  let mock: MockServer | undefined;
  if (upstream === 'mock') {
    mock = await startMock({
      flavor: chosenFlavor as MockFlavor,
      rpm: MOCK_DEFAULTS.rpm,
      tpm: MOCK_DEFAULTS.tpm,
      burstSeconds: 1,
      latencyMs: 150,
      msPerToken: 1,
    });
    upstream = chosenFlavor === 'openai' ? mock.url : new URL(mock.url).origin;
    say(
      `sluice serve: emulator (${chosenFlavor}) at ${mock.url}: ${MOCK_DEFAULTS.rpm} RPM, ${MOCK_DEFAULTS.tpm} TPM per key and model.`,
    );
  } else if (!/^https?:\/\//.test(upstream)) {
    say(
      `sluice serve: --upstream ${JSON.stringify(upstream)} is not an http(s) URL; expected e.g. ${OPENAI}, or mock.`,
    );
    return 2;
  }

  const log =
    flags.log === 'json'
      ? (record: RequestRecord) => process.stdout.write(`${logLine(record)}\n`)
      : undefined;
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      upstream,
      flavor: chosenFlavor,
      port: flags.port,
      host: flags.host,
      ...(config ? { config } : {}),
      limits: {
        ...(flags.rpm ? { rpm: flags.rpm } : {}),
        ...(flags.tpm ? { tpm: flags.tpm } : {}),
      },
      maxBodyBytes: flags.maxBody,
      ...(flags.maxWait ? { maxWaitMs: flags.maxWait } : {}),
      ...(log ? { onRequest: log } : {}),
      observe: observer({
        ...(adminToken ? { adminToken } : {}),
        adminTokenSource: `$${flags.adminTokenEnv}`,
      }),
    });
  } catch (err) {
    if (err instanceof AdminTokenError) {
      say(`sluice serve: ${err.message}`);
      await mock?.close();
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    say(
      code === 'EADDRINUSE'
        ? `sluice serve: port ${flags.port} on ${flags.host} is in use; choose another with --port.`
        : `sluice serve: cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}`,
    );
    await mock?.close();
    return 2;
  }
  say(`sluice serve: listening on ${gateway.url} → ${mock ? 'the emulator' : upstream}`);
  say(`  clients: OPENAI_BASE_URL=${gateway.url}/v1`);
  say(
    adminToken && !isLoopback(flags.host)
      ? `  dashboard: ${gateway.url}/dashboard?token=<$${flags.adminTokenEnv}> (once; a cookie keeps it)`
      : `  dashboard: ${gateway.url}/dashboard   metrics: ${gateway.url}/metrics`,
  );

  if (flags.config) {
    process.on('SIGHUP', () => {
      void loadConfig(flags.config!).then(
        (next) => {
          gateway.reload(next);
          say(`sluice serve: reloaded ${flags.config} (${next.keys.length} virtual keys).`);
        },
        (err: Error) => say(`sluice serve: kept the running config; ${err.message}`),
      );
    });
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      say(`sluice serve: ${signal}: draining (${gateway.active} in flight, up to ${flags.grace / 1000}s)…`);
      void gateway.drain(flags.grace).then(async ({ unfinished }) => {
        await mock?.close();
        say(
          unfinished
            ? `sluice serve: stopped; ${unfinished} requests were answered 503.`
            : 'sluice serve: stopped; every request finished.',
        );
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

function logLine(r: RequestRecord): string {
  return JSON.stringify({
    time: new Date().toISOString(),
    method: r.method,
    path: r.path,
    ...(r.lane ? { lane: r.lane } : {}),
    ...(r.app ? { app: r.app } : {}),
    ...(r.priority ? { priority: r.priority } : {}),
    outcome: r.outcome,
    status: r.status,
    queued_ms: Math.round(r.queuedMs),
    attempts: r.attempts,
    duration_ms: Math.round(r.durationMs),
  });
}
