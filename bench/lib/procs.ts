/**
 * Servers the gateway benchmark starts in processes of their own (the emulator, the proxies), each
 * optionally pinned to a CPU core with `taskset`, and their CPU time read from `/proc`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Origin of the server, `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  /** What the process printed, stdout and stderr, for when it fails. */
  output(): string;
  /** Sends SIGTERM and resolves when the process has exited (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** CPU cores the process may run on (`taskset -c`), or undefined for any. */
  cpus?: string | undefined;
  /** How the port is learnt: a pattern over the output whose first group is the port, or a known port. */
  ready: { pattern: RegExp } | { port: number; path: string };
  timeoutMs?: number;
  /** `ignore` sends stdout to /dev/null (a request log the benchmark would only pay to read). */
  stdout?: 'pipe' | 'ignore';
}

/** A free TCP port on 127.0.0.1 (for servers that cannot be told `--port 0`). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether `taskset` is on this machine (Linux, util-linux). */
export function canPin(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins every thread of this process to `cpus` (e.g. "0"). */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-cp', cpus, String(process.pid)], { stdio: 'ignore' });
}

export async function startProcess(o: StartOptions): Promise<Started> {
  const [command, args] =
    o.cpus === undefined ? [o.command, o.args] : ['taskset', ['-c', o.cpus, o.command, ...o.args]];
  const child = spawn(command, args, {
    // The repository root, so that `--import tsx` resolves wherever the benchmark was started from.
    cwd: ROOT,
    env: o.env ?? process.env,
    stdio: ['ignore', o.stdout ?? 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    // Only the beginning matters (the ready line, a start-up error); request logs are dropped.
    if (out.length < 20_000) out += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timeoutMs = o.timeoutMs ?? 20_000;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${o.name} did not start within ${timeoutMs} ms. Output:\n${out}`)),
      timeoutMs,
    );
    const done = (p: number) => {
      clearTimeout(timer);
      resolve(p);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited with ${code} before it was ready. Output:\n${out}`));
    });
    if ('pattern' in o.ready) {
      const pattern = o.ready.pattern;
      const look = () => {
        const match = pattern.exec(out);
        if (match) done(Number(match[1]));
      };
      child.stdout?.on('data', look);
      child.stderr!.on('data', look);
    } else {
      const { port: known, path } = o.ready;
      const poll = async () => {
        while (child.exitCode === null) {
          try {
            const res = await fetch(`http://127.0.0.1:${known}${path}`);
            await res.arrayBuffer();
            return done(known);
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      void poll();
    }
  });
  return {
    name: o.name,
    child,
    pid: child.pid!,
    origin: `http://127.0.0.1:${port}`,
    port,
    output: () => out,
    stop: async (graceMs = 5_000) => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * CPU seconds (user + system) a process has used, from /proc; undefined off Linux. With `taskset` the
 * pid is taskset's until it execs, which it does at once, so the pid is the server's.
 */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average, for the hardware note. */
export function loadAverage(): number | undefined {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}
