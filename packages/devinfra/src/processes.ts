import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

const children = new Set<ChildProcess>();
let hooked = false;

// Last line of defence against stray servers: if the launching process exits for any reason
// (an uncaught error, process.exit in a test runner), kill what it started, synchronously.
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last lines of output, for error messages when start-up fails. */
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns a server process tracked for cleanup, keeping its recent output for diagnostics. */
export function spawnManaged(command: string, args: string[], options: SpawnOptions = {}): ManagedProcess {
  hookExit();
  // Own process group: a Ctrl-C in the terminal reaches only the launcher, which then stops
  // services before the database and NATS they need, instead of everything dying at once.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  children.add(child);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolveExit(code);
    });
    child.once('error', (err) => {
      lines.push(String(err));
      children.delete(child);
      resolveExit(-1);
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    output: () => lines.join('\n'),
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs. */
export async function stopProcess(
  proc: ManagedProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.kill(signal);
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    proc.kill('SIGKILL');
    await proc.exited;
  }
}
