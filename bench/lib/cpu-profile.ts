/**
 * Where a service's CPU goes, from the V8 CPU profiles `BENCH_CPU_PROF=<dir>` makes each service
 * write when it stops (`--cpu-prof`, one directory per service). Self time is summed by where the
 * code comes from (a dependency, a Node built-in, V8's own work, or one of our modules) and by
 * function, so a before/after pair of runs shows what a change removed per approval.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  what: string;
  /** Self CPU time in milliseconds, summed over the service's profiles. */
  ms: number;
  /** Percent of the service's busy time (idle excluded). */
  percent: number;
}

export interface ServiceProfile {
  service: string;
  profiles: number;
  busyMs: number;
  bySource: ProfileShare[];
  byFunction: ProfileShare[];
}

/**
 * Where a frame's code comes from: V8's own entries as they are ("(garbage collector)"), a
 * dependency by package name, a Node built-in by module, our code by its path under the repo.
 */
export function sourceOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').replace(/\/.*$/, '');
  const ours = /\/((?:services|packages)\/[^/]+)\/(?:dist|src)\/(.+?)(?:\.[jt]s)?$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('wasm://')) return 'wasm (policy)';
  return url;
}

const IDLE = new Set(['(idle)', '(program)']);

/** Self time per node id, in milliseconds. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const times = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    times.set(id, (times.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return times;
}

/** Summarises every `*.cpuprofile` under `<dir>/<service>/`, busiest sources first. */
export function summariseProfiles(dir: string, top = 12): ServiceProfile[] {
  const out: ServiceProfile[] = [];
  for (const service of readdirSync(dir, { withFileTypes: true })) {
    if (!service.isDirectory()) continue;
    const files = readdirSync(join(dir, service.name)).filter((f) => f.endsWith('.cpuprofile'));
    const bySource = new Map<string, number>();
    const byFunction = new Map<string, number>();
    let busy = 0;
    for (const file of files) {
      const profile = JSON.parse(readFileSync(join(dir, service.name, file), 'utf8')) as CpuProfile;
      const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
      for (const [id, ms] of selfTimes(profile)) {
        const frame = frames.get(id);
        if (!frame || IDLE.has(frame.functionName)) continue;
        busy += ms;
        const source = sourceOf(frame);
        bySource.set(source, (bySource.get(source) ?? 0) + ms);
        const fn = `${frame.functionName || '(anonymous)'} (${source}${frame.url ? `:${frame.lineNumber + 1}` : ''})`;
        byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
      }
    }
    const ranked = (m: Map<string, number>) =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([what, ms]) => ({ what, ms, percent: busy > 0 ? (100 * ms) / busy : 0 }));
    out.push({
      service: service.name,
      profiles: files.length,
      busyMs: busy,
      bySource: ranked(bySource),
      byFunction: ranked(byFunction),
    });
  }
  return out.sort((a, b) => b.busyMs - a.busyMs);
}
