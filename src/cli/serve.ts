import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { redisBackend } from '../cache/backend.js';
import { ResponseCache } from '../cache/cache.js';
import { PRIORITIES } from '../engine/events.js';
import { type OptionTable, type ResolvedOptions } from '../formats/options.js';
import { boolean, bytes, duration, oneOf, text, whole } from '../formats/option-kinds.js';
import { MOCK_DEFAULTS, startMock, type MockFlavor, type MockServer } from '../mock/index.js';
import { ConfigError, loadConfig, type GatewayConfig } from '../serve/config.js';
import { requestLog } from '../serve/request-log.js';
import { startGateway, type Gateway } from '../serve/gateway.js';
import { AdminTokenError, isLoopback, observer } from '../serve/observe/index.js';
import { GATEWAY_OPTIONS } from '../serve/options.js';
import { addOptions, resolveFlags } from './options.js';
import { redisClient, openRedisStore, redisUrlProblem } from './redis.js';

const OPENAI = 'https://api.openai.com/v1';

/** `sluice serve`'s flags: the gateway's own options, and what only the command line has. */
export const SERVE_FLAGS = {
  port: GATEWAY_OPTIONS.port,
  host: GATEWAY_OPTIONS.host,
  /** The upstream base URL, or `mock` for the built-in emulator. */
  upstream: text({
    placeholder: 'url',
    defaultText: `$OPENAI_BASE_URL, else ${OPENAI}`,
    help: 'upstream base URL, or "mock" for the built-in emulator',
  }),
  flavor: GATEWAY_OPTIONS.flavor,
  /** The YAML config file: virtual keys, limits, default deadline. */
  config: text({
    placeholder: 'file',
    help: 'YAML file with virtual keys, limits and the default deadline (SIGHUP reloads it)',
  }),
  /** Share limits with other gateways and processes through Redis. */
  redis: text({ placeholder: 'url', help: 'share limits with other gateways and processes through Redis' }),
  /** Namespace of the keys in Redis, so that several deployments can share one server. */
  redisPrefix: text({
    default: 'sluice:',
    placeholder: 'prefix',
    help: 'namespace of the keys in Redis (gateways that share limits use the same one)',
  }),
  /** Requests per minute per lane. */
  rpm: whole({ min: 1, defaultText: 'learned', help: 'requests per minute per lane (key and model)' }),
  /** Tokens per minute per lane. */
  tpm: whole({ min: 1, defaultText: 'learned', help: 'tokens per minute per lane (key and model)' }),
  maxWaitMs: GATEWAY_OPTIONS.maxWaitMs,
  maxBodyBytes: GATEWAY_OPTIONS.maxBodyBytes,
  graceMs: GATEWAY_OPTIONS.graceMs,
  /** The environment variable that holds the admin token (needed for the dashboard beyond loopback). */
  adminTokenEnv: text({
    default: 'SLUICE_ADMIN_TOKEN',
    placeholder: 'name',
    help: 'environment variable holding the admin token for /dashboard and /api/stats beyond loopback',
  }),
  /** Answer repeated requests from the response cache. */
  cache: boolean({
    default: false,
    help: 'answer repeated requests from a response cache (per key or app; opt out with x-sluice-cache: off)',
  }),
  /** How long cached answers live. */
  cacheTtlMs: duration({
    default: 3_600_000,
    min: 1,
    flag: 'cache-ttl',
    help: 'how long a cached answer lives',
  }),
  /** Memory for cached answers (without --redis). */
  cacheSizeBytes: bytes({
    default: 64 * 1024 * 1024,
    min: 1,
    flag: 'cache-size',
    help: 'memory for cached answers (with --redis they live in Redis)',
  }),
  /** One line per request on stdout. */
  log: oneOf(['json', 'off'] as const, {
    default: 'json',
    placeholder: 'format',
    help: 'one JSON line per request on stdout, or off',
  }),
} satisfies OptionTable;

type Flags = ResolvedOptions<typeof SERVE_FLAGS>;

/** Registers `sluice serve` (the gateway); its flags come from {@link SERVE_FLAGS}. */
export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .summary('run the OpenAI-compatible gateway that paces every service sharing a key')
    .description(
      [
        'Run an OpenAI-compatible gateway. Every service (any language) points its base URL at it (OPENAI_BASE_URL=http://127.0.0.1:8787/v1) and one engine paces them all: requests queue instead of failing with 429, by priority (interactive > default > batch) and fair share, retried inside the gateway when that is right. Quota errors come back at once.',
        'By default each client sends its own API key, and each key is its own lane. With --config, apps get virtual keys, priorities, weights and sub-limits, and the gateway holds the real keys.',
        'Without --upstream, $OPENAI_BASE_URL or $OPENAI_API_KEY, it starts against the built-in emulator (--upstream mock), so the dashboard and pacing can be seen with no account.',
      ].join('\n\n'),
    );
  addOptions(cmd, SERVE_FLAGS).addHelpText(
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
      'Durations: 500ms, 30s, 2m. Sizes: 512kb, 32mb. Details: docs/serve.md.',
    ].join('\n'),
  );
  cmd.action(async () => {
    const { input, options } = resolveFlags(cmd, SERVE_FLAGS);
    // A deadline typed on the command line wins over the config file's; the default does not.
    process.exitCode = await runServe(options, input.maxWaitMs !== undefined);
  });
}

async function runServe(flags: Flags, maxWaitGiven: boolean): Promise<number> {
  // The gateway's per-request objects live about as long as V8's young generation lasts under load;
  // V8 then starts allocating some of them straight in the old generation ("pretenuring"), which
  // needs full collections, pauses of milliseconds, three times as often (docs/benchmarks.md, "The
  // gateway's own HTTP server"). This process is the gateway's own: it turns that off, unless Node.js
  // was started with its own word on it.
  if (!process.execArgv.some((flag) => flag.includes('allocation-site-pretenuring')))
    setFlagsFromString('--no-allocation-site-pretenuring');
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const redisProblem = flags.redis === undefined ? undefined : redisUrlProblem(flags.redis);
  if (redisProblem) {
    say(`sluice serve: ${redisProblem}`);
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

  const log = flags.log === 'json' ? requestLog((text) => process.stdout.write(text)) : undefined;
  let gateway: Gateway;
  try {
    gateway = await startGateway({
      upstream,
      flavor: chosenFlavor,
      port: flags.port,
      host: flags.host,
      ...(config ? { config } : {}),
      ...(flags.redis
        ? {
            store: await openRedisStore(
              flags.redis,
              (line) => say(`sluice serve: ${line}`),
              flags.redisPrefix,
            ),
          }
        : {}),
      cache: new ResponseCache({
        ttlMs: flags.cacheTtlMs,
        ...(flags.redis
          ? { backend: redisBackend({ client: await redisClient(flags.redis), prefix: flags.redisPrefix }) }
          : { maxBytes: flags.cacheSizeBytes }),
      }),
      cacheByDefault: flags.cache,
      limits: {
        ...(flags.rpm ? { rpm: flags.rpm } : {}),
        ...(flags.tpm ? { tpm: flags.tpm } : {}),
      },
      maxBodyBytes: flags.maxBodyBytes,
      graceMs: flags.graceMs,
      ...(maxWaitGiven ? { maxWaitMs: flags.maxWaitMs } : {}),
      ...(log ? { onRequest: log.onRequest } : {}),
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
      say(`sluice serve: ${signal}: draining (${gateway.active} in flight, up to ${flags.graceMs / 1000}s)…`);
      void gateway.drain().then(async ({ unfinished }) => {
        log?.flush();
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
