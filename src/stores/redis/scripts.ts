/**
 * The Lua scripts and the one way they are run: EVALSHA with the pinned hash, and on NOSCRIPT (a fresh or
 * flushed Redis) EVAL with the source, which also puts the script back in Redis's cache. Every call is
 * bounded by a timeout, so a Redis that stops answering is noticed in milliseconds, not at TCP's pace.
 *
 * The sources are read from `lua/` beside this module, which works from `src/` (tsx, vitest) and from
 * `dist/` (the build copies the folder); what several scripts share is in `lua/includes/`.
 */
import { readFileSync } from 'node:fs';
import { SCRIPT_SHA1, type ScriptName } from './hashes.js';
import type { RedisScriptClient } from './client.js';

export interface LuaScript {
  name: ScriptName;
  sha1: string;
  source: string;
}

/** A line `--- @include <name>` in a script stands for `lua/includes/<name>.lua` (Redis has no imports). */
const INCLUDE = /^--- @include (\w+)$/gm;

/** Reads one script from `lua/<name>.lua`, with its includes in place. */
export function loadScript(name: ScriptName): LuaScript {
  const read = (path: string) => readFileSync(new URL(`./lua/${path}.lua`, import.meta.url), 'utf8');
  const source = read(name).replace(INCLUDE, (_, include: string) => read(`includes/${include}`).trimEnd());
  return { name, sha1: SCRIPT_SHA1[name], source };
}

/** Every script, read once when the module loads. */
export const SCRIPTS: { readonly [K in ScriptName]: LuaScript } = {
  reserve: loadScript('reserve'),
  adjust: loadScript('adjust'),
  raise: loadScript('raise'),
  cooldown: loadScript('cooldown'),
  snapshot: loadScript('snapshot'),
  clear: loadScript('clear'),
  heartbeat: loadScript('heartbeat'),
  release: loadScript('release'),
  renew: loadScript('renew'),
  trip: loadScript('trip'),
  untrip: loadScript('untrip'),
  learn: loadScript('learn'),
};

/** Thrown when Redis does not answer within the command timeout. */
export class RedisTimeoutError extends Error {
  constructor(script: string, ms: number) {
    super(`Redis did not answer ${script}.lua within ${ms} ms (commandTimeoutMs).`);
    this.name = 'RedisTimeoutError';
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * Bounds a command by `ms`. When the timer fires, the verdict waits one more turn (`setImmediate`, after
 * the event loop's I/O phase): a process that was busy for longer than `ms` (start-up, a long
 * synchronous task) has the answer waiting in its socket, and reads it before it calls Redis
 * unreachable — its own lag is not an outage.
 */
function bounded<T>(pending: Promise<T>, ms: number, script: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new RedisTimeoutError(script, ms));
      });
    }, ms);
    pending.then(
      (value) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * The bound on commands until Redis has answered once: connecting (DNS, TCP, TLS, AUTH) takes longer
 * than a command, and a store that has never reached Redis does not know how many processes share it.
 */
export const FIRST_ANSWER_MS = 2000;

/** Runs scripts on one client: one round trip normally, two after Redis lost its script cache. */
export class ScriptRunner {
  readonly #client: RedisScriptClient;
  readonly #timeoutMs: number;
  /** Whether Redis has answered a command yet (see {@link FIRST_ANSWER_MS}). */
  #reached = false;

  constructor(client: RedisScriptClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  async run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const n = keys.length;
    const ms = this.#reached ? this.#timeoutMs : Math.max(this.#timeoutMs, FIRST_ANSWER_MS);
    let reply: unknown;
    try {
      reply = await bounded(this.#client.evalsha(script.sha1, n, ...keys, ...args), ms, script.name);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      reply = await bounded(this.#client.eval(script.source, n, ...keys, ...args), ms, script.name);
    }
    this.#reached = true;
    return reply;
  }
}
