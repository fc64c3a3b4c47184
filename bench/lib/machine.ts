/** What the results were measured on, recorded with them so figures are never read out of context. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { postgresBinDir, REPO_ROOT, tool } from '@countersign/devinfra';
import { pgbenchBinary } from './pgbench.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  postgres: string;
  pgbench: string;
  natsServer: string;
  opa: string;
  commit: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', cwd: REPO_ROOT }).trim().split('\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  // The results a previous run wrote do not change what is measured.
  const dirty =
    firstLine('git', [
      'status',
      '--porcelain',
      '--untracked-files=no',
      '--',
      '.',
      ':(exclude)bench/results',
    ]) !== '';
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: firstLine(`${postgresBinDir()}/postgres`, ['--version']),
    pgbench: firstLine(pgbenchBinary(), ['--version']),
    natsServer: firstLine(tool('nats-server'), ['--version']),
    opa: firstLine(tool('opa'), ['version']),
    commit: `${firstLine('git', ['rev-parse', '--short', 'HEAD'])}${dirty ? ' (with uncommitted changes)' : ''}`,
  };
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}
