import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isListening, waitFor } from './ports.js';
import { type ManagedProcess, spawnManaged, stopProcess } from './processes.js';
import { tool } from './tools.js';

export interface NatsServerOptions {
  /** Client port; a free one when absent. */
  port?: number;
  /** JetStream store directory (kept on stop); a temporary one (removed) when absent. */
  storeDir?: string;
  /** Extra configuration appended to the generated config file (accounts, cluster, ...). */
  extraConfig?: string;
  /** Server name, needed in clusters. */
  name?: string;
  /** HTTP monitoring port (0 = off). */
  monitorPort?: number;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  pid(): number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would. */
  crash(): Promise<void>;
  /** Starts again on the same port and store directory. */
  restart(): Promise<void>;
}

/** Starts a private nats-server with JetStream on loopback. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = tool('nats-server');
  const temporary = !options.storeDir;
  const root = mkdtempSync(join(tmpdir(), 'countersign-nats-'));
  const storeDir = options.storeDir ?? join(root, 'jetstream');
  mkdirSync(storeDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const configFile = join(root, 'nats.conf');
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    options.name ? `server_name: "${options.name}"` : '',
    options.monitorPort ? `http: "127.0.0.1:${options.monitorPort}"` : '',
    // Messages up to 1 MiB reach our services so they can answer "payload_too_large" themselves.
    'max_payload: 1048576',
    `jetstream { store_dir: "${storeDir}", max_memory_store: 256MB, max_file_store: 4GB }`,
    options.extraConfig ?? '',
  ];
  writeFileSync(configFile, `${lines.filter(Boolean).join('\n')}\n`);

  let proc: ManagedProcess;
  const launch = async () => {
    proc = spawnManaged(binary, ['-c', configFile]);
    const started = proc;
    try {
      await waitFor(`nats-server on port ${port}`, async () => {
        if (started.child.exitCode !== null) throw new Error('exited');
        return isListening(port);
      });
    } catch (err) {
      started.kill('SIGKILL');
      throw new Error(`nats-server failed to start: ${(err as Error).message}\n${started.output()}`);
    }
  };
  await launch();

  let stopped = false;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => proc.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProcess(proc, 'SIGTERM', 10_000);
      rmSync(temporary ? root : configFile, { recursive: true, force: true });
    },
    async crash() {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    async restart() {
      await stopProcess(proc, 'SIGTERM', 10_000);
      await launch();
    },
  };
}
