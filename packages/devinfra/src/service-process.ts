import { join } from 'node:path';
import { waitFor } from './ports.js';
import { type ManagedProcess, spawnManaged, stopProcess } from './processes.js';
import { REPO_ROOT } from './tools.js';

export type ServiceName = 'policy' | 'approval' | 'notifier' | 'mcp';

export interface ServiceProcess {
  name: ServiceName;
  /** Current process (changes on restart). */
  process(): ManagedProcess;
  /** Every log line the process wrote (JSON lines), across restarts. */
  logs(): string[];
  /** Milliseconds from the last spawn to the moment its ready line was read. */
  readyMs(): number;
  /** SIGKILL, as a crash would; resolves when the process is gone. */
  crash(): Promise<void>;
  /** Starts the service again with the same environment; resolves when it is ready. */
  restart(): Promise<void>;
  /** SIGTERM (graceful), then SIGKILL after the grace period. */
  stop(): Promise<void>;
}

/** A service that did not start: its last lines, and the message of its fatal line if it wrote one. */
export class ServiceStartError extends Error {
  readonly service: ServiceName;
  /** The `msg` of the service's fatal (level 60) log line: what it says stopped it, in one line. */
  readonly fatal: string | undefined;

  constructor(service: ServiceName, message: string, fatal: string | undefined) {
    super(message);
    this.name = 'ServiceStartError';
    this.service = service;
    this.fatal = fatal;
  }
}

/** The `msg` of the last fatal JSON log line among `lines`. */
function fatalMessage(lines: readonly string[]): string | undefined {
  for (const line of [...lines].reverse()) {
    if (!line.includes('"level":60')) continue;
    try {
      const msg = (JSON.parse(line) as { msg?: unknown }).msg;
      if (typeof msg === 'string') return msg;
    } catch {
      // Not a JSON line after all.
    }
  }
  return undefined;
}

export interface SpawnServiceOptions {
  env: Record<string, string>;
  /** The log message that means "ready". Default: a JSON line with msg "ready". */
  readyMessage?: string;
  timeout?: number;
  /** Called with every output line (the dev run prints them). */
  onLine?: (line: string) => void;
  /** Keep only the last this many log lines (benchmarks log millions). Default: all of them. */
  maxLogLines?: number;
  /**
   * The program to run instead of the service's TypeScript sources under tsx: the
   * compiled-services test runs the image's command in the layout the image has.
   */
  command?: ServiceCommand;
  /**
   * Called when the process exits although nobody stopped, restarted or crashed it (a benchmark
   * would otherwise see a dead service only as a stall), with its exit code and last lines.
   */
  onUnexpectedExit?: (code: number | null, lastLines: string[]) => void;
}

/** A service started some other way than `node --import tsx services/<name>/src/main.ts`. */
export interface ServiceCommand {
  file: string;
  args: readonly string[];
  cwd: string;
}

// tsx as a loader in the service's own process, not its CLI: the CLI runs the script in a
// child process, so a SIGKILL (crash()) killed only the CLI and left the service running.
const tsxLoader = ['--import', 'tsx'];

/**
 * Runs a service's `main.ts` as a real child process (so tests can SIGKILL it) and waits for
 * its ready log line. Output is kept for assertions and printed when start-up fails.
 */
export async function startServiceProcess(
  name: ServiceName,
  options: SpawnServiceOptions,
): Promise<ServiceProcess> {
  const readyMessage = options.readyMessage ?? 'ready';
  const logs: string[] = [];
  const maxLines = options.maxLogLines ?? Number.POSITIVE_INFINITY;
  // Trims in chunks, so a busy process does not pay for a splice on every line.
  const trim = () => {
    if (logs.length > maxLines * 2) logs.splice(0, logs.length - maxLines);
  };
  let current: ManagedProcess;
  let stopped = false;
  // Set while stop, restart or crash ends the current process on purpose.
  let ending = false;
  let readyMs = Number.NaN;

  const launch = async () => {
    const command = options.command ?? {
      file: process.execPath,
      args: [...tsxLoader, join(REPO_ROOT, `services/${name}/src/main.ts`)],
      cwd: REPO_ROOT,
    };
    const proc = spawnManaged(command.file, [...command.args], {
      cwd: command.cwd,
      env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...options.env },
    });
    current = proc;
    ending = false;
    void proc.exited.then((code) => {
      if (!ending && current === proc) options.onUnexpectedExit?.(code, logs.slice(-30));
    });
    const spawned = performance.now();
    let ready = false;
    let buffer = '';
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        options.onLine?.(line);
        if (!ready && line.includes(`"msg":"${readyMessage}"`)) {
          ready = true;
          readyMs = performance.now() - spawned;
        }
      }
      trim();
    });
    proc.child.stderr?.on('data', (chunk: Buffer) => {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      trim();
    });
    try {
      await waitFor(
        `${name} service to be ready`,
        async () => {
          if (proc.child.exitCode !== null) throw new Error(`exited with ${proc.child.exitCode}`);
          return ready;
        },
        options.timeout ?? 30_000,
      );
    } catch (err) {
      // Start-up failed: ServiceStartError below says why, not onUnexpectedExit.
      ending = true;
      proc.kill('SIGKILL');
      // 'exit' can come before the last output is read: wait (briefly) for stdout to close, so
      // the fatal line is among the logs.
      await proc.exited;
      const stdout = proc.child.stdout;
      if (stdout && !stdout.closed) {
        await new Promise<void>((resolveClosed) => {
          const timer = setTimeout(resolveClosed, 1_000);
          stdout.once('close', () => {
            clearTimeout(timer);
            resolveClosed();
          });
        });
      }
      throw new ServiceStartError(
        name,
        `${name} service did not start: ${(err as Error).message}\n${logs.slice(-30).join('\n')}`,
        fatalMessage(logs),
      );
    }
  };
  await launch();

  return {
    name,
    process: () => current,
    logs: () => logs,
    readyMs: () => readyMs,
    async crash() {
      ending = true;
      current.kill('SIGKILL');
      await current.exited;
    },
    async restart() {
      ending = true;
      await stopProcess(current, 'SIGTERM', 10_000);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      ending = true;
      await stopProcess(current, 'SIGTERM', 10_000);
    },
  };
}
