/**
 * CPU time and memory of other processes, read from /proc (Linux). process.cpuUsage() only
 * sees the calling process; the services run as children, and PostgreSQL as a postmaster with
 * one backend per connection.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface StatFields {
  ppid: number;
  /** utime + stime of the process itself, in seconds. */
  own: number;
  /** cutime + cstime: CPU of children that exited and were waited for, in seconds. */
  reaped: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (i: number) => Number(fields[i - 3] ?? 0);
  const hz = clockTicks();
  return { ppid: n(4), own: (n(14) + n(15)) / hz, reaped: (n(16) + n(17)) / hz };
}

/** Live children of `pid` (one level: PostgreSQL's backends and auxiliary processes). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child <= 0) continue;
    if (readStat(child)?.ppid === pid) children.push(child);
  }
  return children;
}

/** CPU seconds used by a process so far (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  return readStat(pid)?.own ?? 0;
}

/**
 * CPU seconds of a process tree one level deep: the parent, its live children, and the
 * children that already exited (counted in the parent's cutime/cstime once reaped).
 */
export function treeCpuSeconds(pid: number): number {
  const parent = readStat(pid);
  if (!parent) return 0;
  return parent.own + parent.reaped + childPids(pid).reduce((sum, c) => sum + cpuSeconds(c), 0);
}

/** Resident set size in bytes (VmRSS), 0 when the process is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A process (or process tree) to watch, by a stable name for the report. */
export interface Watched {
  name: string;
  /** Current pid: services may have been restarted between measurements. */
  pid: () => number;
  /** Count the live and exited children too (PostgreSQL). */
  tree?: boolean;
}

/** CPU seconds per watched process between `start()` and `stop()`; the bench itself as "bench". */
export class CpuMeter {
  #before = new Map<string, number>();
  #benchBefore: NodeJS.CpuUsage | undefined;

  constructor(private readonly watched: readonly Watched[]) {}

  #read(w: Watched): number {
    return w.tree ? treeCpuSeconds(w.pid()) : cpuSeconds(w.pid());
  }

  start(): void {
    for (const w of this.watched) this.#before.set(w.name, this.#read(w));
    this.#benchBefore = process.cpuUsage();
  }

  stop(): Record<string, number> {
    const used: Record<string, number> = {};
    for (const w of this.watched) used[w.name] = this.#read(w) - (this.#before.get(w.name) ?? 0);
    const bench = process.cpuUsage(this.#benchBefore);
    used.bench = (bench.user + bench.system) / 1e6;
    return used;
  }
}

/**
 * Samples RSS of the watched processes on an interval and keeps each one's peak. Process trees
 * are skipped: PostgreSQL's backends share their buffers, so a sum of their RSS means nothing.
 */
export class RssSampler {
  readonly peak: Record<string, number> = {};
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly watched: readonly Watched[],
    private readonly everyMs = 250,
  ) {}

  start(): void {
    const sample = () => {
      for (const w of this.watched) {
        if (!w.tree) this.peak[w.name] = Math.max(this.peak[w.name] ?? 0, rssBytes(w.pid()));
      }
    };
    sample();
    this.#timer = setInterval(sample, this.everyMs);
    this.#timer.unref();
  }

  stop(): Record<string, number> {
    clearInterval(this.#timer);
    return { ...this.peak };
  }
}
