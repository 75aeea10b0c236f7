/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) into self time per function and per area
 * of the code, idle time left out.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  /** µs */
  self: number;
}

export interface ProfileSummary {
  /** Busy time in the profile (everything but `(idle)`), µs. */
  busy: number;
  functions: SelfTime[];
  areas: SelfTime[];
}

/** Where a function lives, in words: our code by folder, Node.js internals by module, dependencies by package. */
function areaOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native / V8 built-ins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `dependency ${pkg[1]}`;
  const dist = /\/(?:dist|src)\/([^/]+)\//.exec(url);
  if (dist) return `sluice ${dist[1]}/`;
  if (url.includes('/bench/')) return "the benchmark's own code";
  const internal = /^node:internal\/([^/]+(?:\/[^/]+)?)/.exec(url);
  if (internal) {
    const mod = internal[1]!.replace(/\.js$/, '');
    return `node:internal/${mod.startsWith('streams') ? 'streams' : mod.split('/')[0]}`;
  }
  if (url.startsWith('node:')) return url;
  return 'other';
}

function shortUrl(url: string): string {
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  const mods = url.lastIndexOf('node_modules/');
  if (mods !== -1) return url.slice(mods + 'node_modules/'.length);
  return url.replace(/^file:\/\//, '');
}

/**
 * Where the profiled process first sat idle for `ms` (µs since the profile began, as a sample index):
 * the end of its start-up, when the benchmark waits that long before loading it.
 */
function firstIdleStretch(profile: Profile, byId: Map<number, ProfileNode>, ms: number): number {
  let idleSince = -1;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const idle = byId.get(profile.samples[i]!)?.callFrame.functionName === '(idle)';
    if (!idle) {
      if (idleSince !== -1 && idleUs >= ms * 1000) return i;
      idleSince = -1;
      idleUs = 0;
      continue;
    }
    if (idleSince === -1) idleSince = i;
    idleUs += profile.timeDeltas[i + 1] ?? 0;
  }
  return 0;
}

/** Self time per function and area; with `skipStartUpIdleMs`, only after the first idle stretch that long. */
export function summarizeProfile(file: string, skipStartUpIdleMs?: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  const from = skipStartUpIdleMs === undefined ? 0 : firstIdleStretch(profile, byId, skipStartUpIdleMs);
  for (let i = from; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    // A sample's time is the delta to the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (!node || dt <= 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += dt;
    const name = url
      ? `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`
      : functionName || '(anonymous)';
    fns.set(name, (fns.get(name) ?? 0) + dt);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + dt);
  }
  const sorted = (m: Map<string, number>) =>
    [...m].map(([name, self]) => ({ name, self })).sort((a, b) => b.self - a.self);
  return { busy, functions: sorted(fns), areas: sorted(areas) };
}
