/**
 * The migrate command (`pnpm migrate`, the compose `migrate` job): applies every service's
 * migrations as a privileged role, and grants the services' runtime role what they need, so the
 * services themselves never run DDL. Exit 0 when the schemas are current, 1 (one JSON line
 * saying why) otherwise.
 */
import pg from 'pg';
import { ConfigError, loadConfig, MigrationEnv, type MigrationSettings, type RuntimeRole } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { type MigrationSet, migrate, quoteIdent } from './migrate.js';

export interface MigrateCommandOptions {
  /** Every service's migrations, by service name, applied in this order. */
  sets: Readonly<Record<string, MigrationSet>>;
  /** The environment to read. Default `process.env`. */
  source?: NodeJS.ProcessEnv;
}

/** Runs the migrate command to completion and exits the process with its status. */
export async function runMigrateCommand(options: MigrateCommandOptions): Promise<never> {
  let settings: MigrationSettings;
  try {
    settings = loadConfig(MigrationEnv, options.source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    createLogger({ service: 'migrate' }).fatal({ issues: err.issues }, 'invalid configuration');
    return exit(1);
  }
  const logger = createLogger({ service: 'migrate', level: settings.log.level, pretty: settings.log.pretty });
  const pool = new pg.Pool({ connectionString: settings.url.reveal(), max: 1 });
  pool.on('error', () => {});
  try {
    const applied = await migrateAll(pool, options.sets, settings, logger);
    const serviceRoles = Object.fromEntries(
      Object.keys(options.sets).map((service) => [
        service,
        settings.serviceRoles[service]?.role ?? settings.runtimeRole ?? null,
      ]),
    );
    logger.info(
      { applied, runtime_role: settings.runtimeRole ?? null, service_roles: serviceRoles },
      'migrations done',
    );
    await pool.end();
    return exit(0);
  } catch (err) {
    logger.fatal({ err }, 'migrations failed');
    await pool.end().catch(() => {});
    return exit(1);
  }
}

/**
 * Applies each set in order; the applied file names by service. Each set's runtime role (its
 * service's own, else the shared one) is granted that set's schema and nothing else.
 */
export async function migrateAll(
  pool: pg.Pool,
  sets: Readonly<Record<string, MigrationSet>>,
  settings: Pick<MigrationSettings, 'runtimeRole' | 'runtimePassword'> &
    Partial<Pick<MigrationSettings, 'serviceRoles'>>,
  logger: Logger,
): Promise<Record<string, string[]>> {
  const shared = settings.runtimeRole
    ? { role: settings.runtimeRole, password: settings.runtimePassword }
    : undefined;
  const prepared = new Map<string, string | undefined>();
  const applied: Record<string, string[]> = {};
  for (const [service, set] of Object.entries(sets)) {
    const wanted = settings.serviceRoles?.[service] ?? shared;
    let runtimeRole: string | undefined;
    if (wanted) {
      if (!prepared.has(wanted.role)) prepared.set(wanted.role, await prepareRuntimeRole(pool, wanted));
      runtimeRole = prepared.get(wanted.role);
    }
    applied[service] = await migrate(pool, { ...set, runtimeRole, logger: logger.child({ for: service }) });
  }
  return applied;
}

/**
 * The role to grant, or undefined when it is the migrating role itself (dev). With a password,
 * the login role is created when missing and its password set, so a compose deployment needs no
 * manual step; without one, it must already exist.
 */
async function prepareRuntimeRole(pool: pg.Pool, wanted: RuntimeRole): Promise<string | undefined> {
  const role = wanted.role;
  const client = await pool.connect();
  try {
    const me = await client.query<{ user: string }>('select current_user as user');
    if (me.rows[0]?.user === role) return undefined;
    const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
    const password = wanted.password?.reveal();
    if (password !== undefined) {
      const literal = client.escapeLiteral(password);
      await client.query(
        exists
          ? `alter role ${quoteIdent(role)} with login password ${literal}`
          : `create role ${quoteIdent(role)} with login password ${literal}`,
      );
    } else if (!exists) {
      throw new Error(
        `runtime role ${role} does not exist: create it (a login role, no other rights) or set its password variable`,
      );
    }
    return role;
  } finally {
    client.release();
  }
}

function exit(code: number): Promise<never> {
  // Let pino flush before leaving.
  return new Promise(() => setTimeout(() => process.exit(code), 50));
}
