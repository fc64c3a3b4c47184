/**
 * The service scaffold: everything a service's `main.ts` did besides starting the service itself.
 * Reads the configuration (one JSON line and exit 1 when it is wrong), creates the logger, opens
 * the pool and migrates or checks the schema version (for a service with a database), connects
 * NATS, starts the service, logs `ready`, and on SIGTERM stops in order within the shutdown timeout.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import pg from 'pg';
import type { z } from 'zod';
import { type ApprovalLookup, approvalsOverNats } from './approved-change.js';
import { ConfigError, type DatabaseSettings, loadConfig, type RuntimeSettings } from './config.js';
import {
  type Directory,
  type DirectoryHolder,
  type DirectoryStoreFollower,
  followDirectoryStore,
  type OpenedDirectory,
  openDirectory,
} from './directory/index.js';
import { createLogger, type Logger, redactUrl } from './logger.js';
import { type MigrationSet, migrate } from './migrate.js';
import { connectNats } from './nats.js';
import { type NatsAuthOptions, natsAuthOptions } from './nats-credentials.js';
import { checkSchemaVersion } from './schema-version.js';
import { memoStop, runMain, type Stoppable } from './shutdown.js';
import { probeDatabase } from './startup.js';
import { startTracing, type Tracing } from './tracing.js';

/** What the scaffold reads from a service's settings; the service schema's transform supplies it. */
export interface ScaffoldSettings {
  runtime: RuntimeSettings;
  /** Present for a service with a database: the scaffold opens the pool and closes it last. */
  database?: DatabaseSettings;
}

/** What a service's `start` is handed. `pool` exists when the settings have a `database`. */
export interface ServiceContext<S extends ScaffoldSettings> {
  settings: S;
  logger: Logger;
  nc: NatsConnection;
  /** The directory (DIRECTORY_FILE), reloaded when the file changes; the scaffold stops it. */
  directory: DirectoryHolder;
  pool: S extends { database: DatabaseSettings } ? pg.Pool : undefined;
}

export interface StartedService {
  /**
   * Stopped one after the other, in this order, on SIGTERM: whatever takes requests first
   * (HTTP, endpoints), then consumers. The scaffold drains NATS and closes the pool after them.
   */
  stop: readonly Stoppable[];
  /** Fields of the `ready` log line (what a person or a test reads from it). */
  ready?: Record<string, unknown>;
}

export interface ServiceDefinition<S extends ScaffoldSettings> {
  /** The `service` field of every log line, and the NATS connection name unless `connectionName` says otherwise. */
  name: string;
  connectionName?: string;
  /** The service's environment schema: variables in, the service's settings out. */
  env: z.ZodType<S>;
  /**
   * Numbered SQL files applied (advisory-locked) before the service starts when the database
   * settings say `migrateOnStart`; otherwise the schema is only checked: a service refuses to
   * start on a schema older or newer than it supports. Needs `database`.
   */
  migrations?: MigrationSet;
  start(context: ServiceContext<S>): Promise<StartedService>;
  /** The environment to read. Default `process.env`. */
  source?: NodeJS.ProcessEnv;
  /**
   * Where log lines go. Default stdout; a service that speaks a protocol on stdout (the MCP
   * server over stdio) logs to stderr instead, or its logs would corrupt the protocol.
   */
  logDestination?: NodeJS.WritableStream;
  /**
   * The reply inbox prefix to connect with, for a service that connects as a directory identity
   * (the MCP server): its NATS user may read replies only under that identity's own prefix.
   * Default: nats.js's `_INBOX`, which Countersign's own service users may read.
   */
  inboxPrefix?: (settings: S, directory: Directory) => string | undefined;
  /**
   * How this service reads the approval a directory change names (DIRECTORY_BUCKET). Default:
   * ask the approval service (`approval.get`). The approval service reads its own database: it
   * must not wait for itself to answer before it knows who may decide.
   */
  approvals?: (context: { nc: NatsConnection; pool: pg.Pool | undefined }) => ApprovalLookup;
}

/**
 * Runs a service process. Never returns an error: a bad configuration logs `invalid
 * configuration` with each variable and what is wrong with it (never its value) and exits 1; a
 * failed start logs `failed to start` and exits 1; SIGTERM/SIGINT exit 128 + signal.
 */
export async function runService<S extends ScaffoldSettings>(
  definition: ServiceDefinition<S>,
): Promise<void> {
  let settings: S;
  try {
    settings = loadConfig(definition.env, definition.source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The configured level and format are not known: a plain JSON line at the default level.
    createLogger({ service: definition.name, destination: definition.logDestination }).fatal(
      { issues: err.issues },
      'invalid configuration',
    );
    process.exit(1);
  }
  // Credentials are part of the configuration: without them (authentication on) or with an
  // unreadable file, the service stops here like on any bad variable, before it connects.
  const auth = natsAuthOptions(settings.runtime.nats);
  if (!auth.ok) {
    createLogger({ service: definition.name, destination: definition.logDestination }).fatal(
      {
        issues: auth.issues,
      },
      'invalid configuration',
    );
    process.exit(1);
  }
  const { runtime } = settings;
  const logger = createLogger({
    service: definition.name,
    destination: definition.logDestination,
    level: runtime.log.level,
    pretty: runtime.log.pretty,
  });
  if (runtime.nats.auth === 'off') {
    logger.warn(
      { NATS_AUTH: 'off' },
      'NATS authentication is off: identities on NATS are not proven, anyone reaching the server can act as anyone (dev only)',
    );
  }
  await runMain(
    logger,
    () => startScaffolded(definition, settings, auth.options, logger),
    runtime.shutdownTimeoutMs,
  );
}

async function startScaffolded<S extends ScaffoldSettings>(
  definition: ServiceDefinition<S>,
  settings: S,
  auth: NatsAuthOptions,
  logger: Logger,
): Promise<Stoppable> {
  if (definition.migrations && !settings.database) {
    throw new Error(`${definition.name}: migrations need database settings`);
  }
  let pool: pg.Pool | undefined;
  let nc: NatsConnection | undefined;
  let directory: OpenedDirectory | undefined;
  let directoryStore: DirectoryStoreFollower | undefined;
  // First: the spans of the start itself (migrations) and of everything after belong to it.
  const tracing: Tracing | undefined = settings.runtime.tracing
    ? await startTracing(settings.runtime.tracing, definition.name)
    : undefined;
  if (settings.runtime.tracing) {
    logger.info({ endpoint: redactUrl(settings.runtime.tracing.endpoint) }, 'tracing on (OTLP over HTTP)');
  }
  try {
    const store = settings.runtime.directoryStore;
    // With a store the file is only the seed: reloading it would let whoever may edit it change
    // the directory without an approval.
    directory = await openDirectory({ file: settings.runtime.directoryFile, logger, watchFile: !store });
    if (settings.database) {
      // One connection first, bounded: an unreachable database is reported by name and address
      // within STARTUP_TIMEOUT rather than as whatever the migration's first query says.
      await probeDatabase(settings.database.url.reveal(), settings.runtime.startupTimeoutMs);
      pool = new pg.Pool({
        connectionString: settings.database.url.reveal(),
        max: settings.database.poolSize,
      });
      // Without a listener, an idle client's error (a database restart) would crash the process.
      pool.on('error', (err) =>
        logger.warn({ code: (err as { code?: string }).code }, 'idle database connection failed'),
      );
      if (definition.migrations) {
        if (settings.database.migrateOnStart) await migrate(pool, { ...definition.migrations, logger });
        // After migrating too: a database migrated by a newer version has files this one lacks.
        await checkSchemaVersion(pool, definition.migrations);
      }
    }
    const { nats } = settings.runtime;
    const inboxPrefix = definition.inboxPrefix?.(settings, directory.current());
    nc = await connectNats({
      url: nats.url,
      name: definition.connectionName ?? definition.name,
      auth,
      ...(inboxPrefix ? { inboxPrefix } : {}),
      logger,
      firstConnectTimeoutMs: settings.runtime.startupTimeoutMs,
    });
    if (store) {
      // Before the service starts: it serves with the approved directory from its first request.
      directoryStore = await followDirectoryStore({
        nc,
        bucket: store.bucket,
        holder: directory,
        approvals: definition.approvals?.({ nc, pool }) ?? approvalsOverNats(nc),
        requireApproval: store.requireApproval,
        logger,
      });
    }
    const started = await definition.start({
      settings,
      logger,
      nc,
      directory,
      pool: pool as ServiceContext<S>['pool'],
    });
    logger.info(started.ready ?? {}, 'ready');
    const connection = nc;
    const openPool = pool;
    const openDirectoryHolder = directory;
    const openDirectoryStore = directoryStore;
    return {
      stop: memoStop(async () => {
        for (const part of started.stop) {
          // One part failing to stop must not keep the connection and the pool open.
          await part.stop().catch((err: unknown) => logger.warn({ err }, 'error while stopping'));
        }
        await openDirectoryStore?.stop();
        await connection.drain();
        await openPool?.end();
        await openDirectoryHolder.stop();
        // Last: the spans of the stop are sent too.
        await tracing?.stop();
      }),
    };
  } catch (err) {
    await directoryStore?.stop().catch(() => {});
    await nc?.close().catch(() => {});
    await pool?.end().catch(() => {});
    await directory?.stop().catch(() => {});
    await tracing?.stop();
    throw err;
  }
}
