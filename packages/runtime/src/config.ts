import { z } from 'zod';
import { parseApiTokens } from './api-tokens.js';
import { DURATION_FORMAT, formatDuration, parseDuration } from './duration.js';
import type { NatsCredentialSettings } from './nats-credentials.js';
import { Secret } from './secret.js';
import type { TracingSettings } from './tracing.js';

/** One refused variable: its name and what is wrong with it, never its value (it may be a secret). */
export interface ConfigIssue {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/**
 * Parses environment variables with a zod schema whose keys are the variable names (and whose
 * transform, if any, shapes them into the service's settings). The error names every offending
 * variable, so a misconfigured deployment says what to fix; zod's and our messages never quote
 * the value.
 */
export function loadConfig<T extends z.ZodType>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      variable: issue.path.join('.') || '(env)',
      message: issue.message,
    })),
  );
}

interface DurationBounds {
  /** Smallest accepted value, in milliseconds. */
  min?: number;
  /** Largest accepted value, in milliseconds. */
  max?: number;
}

/** Env helpers: env values are strings, so numbers, booleans and durations are parsed explicitly. */
export const env = {
  int: (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(def),
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  string: (def: string) => z.string().min(1).default(def),
  /** `<token>:<identity>` or `sha256:<hex>:<identity>` entries, comma-separated (api-tokens.ts). */
  apiTokens: () =>
    z
      .string()
      .default('')
      .transform((text, ctx) => {
        try {
          return parseApiTokens(text);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
  list: (def: string[] = []) =>
    z
      .string()
      .default(def.join(','))
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      ),
  /**
   * A duration in the one format of every service (`500ms`, `5s`, `30m`, `2h`; a bare number is
   * milliseconds), parsed to milliseconds. `def` is written the same way, so the docs show it so.
   */
  duration: (def: string, bounds: DurationBounds = {}) =>
    z
      .string()
      .default(def)
      .transform((text, ctx) => {
        let ms: number;
        try {
          ms = parseDuration(text);
        } catch {
          ctx.addIssue({ code: 'custom', message: `must be ${DURATION_FORMAT}` });
          return z.NEVER;
        }
        if (bounds.min !== undefined && ms < bounds.min) {
          ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(bounds.min)}` });
          return z.NEVER;
        }
        if (bounds.max !== undefined && ms > bounds.max) {
          ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(bounds.max)}` });
          return z.NEVER;
        }
        return ms;
      }),
  /** A required secret (a URL with a password, a key), wrapped so it cannot be logged by mistake. */
  secret: () =>
    z
      .string()
      .min(1)
      .transform((v) => new Secret(v)),
};

/** Variables every service reads. */
export const CommonEnv = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  /** A `.creds` file (user JWT and nkey seed) or a file holding a bare user nkey seed. */
  NATS_CREDS: z.string().optional(),
  /**
   * `on` (default): the service refuses to start without NATS credentials. `off`: for a dev
   * nats-server without authentication; every service then warns at start that NATS
   * identities are not proven.
   */
  NATS_AUTH: z.enum(['on', 'off']).default('on'),
  /**
   * The directory of people and requesting systems (YAML or JSON; see docs/directory.md), read
   * at start and reloaded when it changes. Required: without it nobody could be identified.
   */
  DIRECTORY_FILE: z.string().min(1, 'is required: the directory of people and requesting systems'),
  /**
   * Directory store (e.g. `countersign-directory`): changes go through approval, DIRECTORY_FILE
   * is only the seed and is not reloaded. Empty: the file, reloaded (docs/directory.md)
   */
  DIRECTORY_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, 'must be a stream name: letters, digits, - and _')
    .default(''),
  /**
   * Load a store entry only under an approved directory_change for exactly its text; `false`
   * only where nobody but ops can write the store
   */
  DIRECTORY_REQUIRE_APPROVAL: env.bool(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: env.bool(false),
  SHUTDOWN_TIMEOUT: env.duration('10s', { min: 100 }),
  /**
   * How long a starting service waits for NATS and PostgreSQL before it stops with one line
   * naming the one it cannot reach (exit 1); once started it reconnects for ever.
   */
  STARTUP_TIMEOUT: env.duration('5s', { min: 100 }),
  /**
   * Tracing (OpenTelemetry's standard variables; off unless set): the collector's OTLP/HTTP base
   * URL, `/v1/traces` appended. Setting it turns tracing on (docs/operations.md, Tracing).
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /**
   * `otlp`: trace (to OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318). `none`: do not
   * trace, whatever the endpoint. Unset: trace when OTEL_EXPORTER_OTLP_ENDPOINT is set.
   */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).optional(),
  /** `service.name` of the spans; default the service's name (`approval`, `policy`, `notifier`). */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
});
export type CommonEnv = z.infer<typeof CommonEnv>;

/** Variables of a service that owns a PostgreSQL schema. */
export const DatabaseEnv = z.object({
  /** Required: a default database would be a silent way to write to the wrong place. */
  DATABASE_URL: env.secret(),
  DB_POOL_SIZE: env.int(10, 2, 200),
  /**
   * Apply the service's migrations at start (dev and the run command). Set false where a migrate
   * job runs them as a privileged role (compose, production): the service then only checks that
   * the schema is one it supports, and refuses to start otherwise.
   */
  MIGRATE_ON_START: env.bool(true),
});
export type DatabaseEnv = z.infer<typeof DatabaseEnv>;

/** Variables of the retention job of a service that owns a PostgreSQL schema (see retention.ts). */
export const RetentionEnv = z.object({
  /** How often the retention job runs (in one replica at a time); the first run is a minute after start. */
  RETENTION_INTERVAL: env.duration('1h', { min: 1_000 }),
  /** Rows the retention job deletes per statement: small batches, short transactions. */
  RETENTION_BATCH_SIZE: env.int(1000, 1, 100_000),
});
export type RetentionEnv = z.infer<typeof RetentionEnv>;

/** What the service scaffold needs of every service's settings: NATS, logging, shutdown. */
export interface RuntimeSettings {
  nats: { url: string } & NatsCredentialSettings;
  directoryFile: string;
  /** Present when DIRECTORY_BUCKET is set: the directory comes from the store. */
  directoryStore?: { bucket: string; requireApproval: boolean };
  log: { level: CommonEnv['LOG_LEVEL']; pretty: boolean };
  shutdownTimeoutMs: number;
  /** How long the first connect to NATS and to PostgreSQL may take before start-up fails. */
  startupTimeoutMs: number;
  /** Present when tracing is on (OTEL_* variables). */
  tracing?: TracingSettings;
}

/** The pool the scaffold opens for a service with a database. */
export interface DatabaseSettings {
  url: Secret;
  poolSize: number;
  /** Migrate at start (true), or only check the schema version (false). */
  migrateOnStart: boolean;
}

/** The runtime's part of a service's settings, for the service schema's transform. */
export function runtimeSettings(parsed: CommonEnv): RuntimeSettings {
  return {
    nats: {
      url: parsed.NATS_URL,
      user: parsed.NATS_USER,
      password: parsed.NATS_PASSWORD,
      credsFile: parsed.NATS_CREDS,
      auth: parsed.NATS_AUTH,
    },
    directoryFile: parsed.DIRECTORY_FILE,
    ...(parsed.DIRECTORY_BUCKET
      ? {
          directoryStore: {
            bucket: parsed.DIRECTORY_BUCKET,
            requireApproval: parsed.DIRECTORY_REQUIRE_APPROVAL,
          },
        }
      : {}),
    log: { level: parsed.LOG_LEVEL, pretty: parsed.LOG_PRETTY },
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT,
    startupTimeoutMs: parsed.STARTUP_TIMEOUT,
    ...tracingSettings(parsed),
  };
}

/** The OTEL_* variables as tracing settings: none (off) unless they turn it on. */
function tracingSettings(parsed: CommonEnv): { tracing?: TracingSettings } {
  const exporter = parsed.OTEL_TRACES_EXPORTER ?? (parsed.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'none');
  if (exporter === 'none') return {};
  return {
    tracing: {
      endpoint: parsed.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318',
      ...(parsed.OTEL_SERVICE_NAME ? { serviceName: parsed.OTEL_SERVICE_NAME } : {}),
    },
  };
}

/** The database part of a service's settings, for the service schema's transform. */
export function databaseSettings(parsed: DatabaseEnv): DatabaseSettings {
  return { url: parsed.DATABASE_URL, poolSize: parsed.DB_POOL_SIZE, migrateOnStart: parsed.MIGRATE_ON_START };
}

/** A PostgreSQL role name the migrate command may quote: lowercase letters, digits, `_`. */
const RoleName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'must be a lowercase role name (letters, digits, _)')
  .optional();

/**
 * Variables of the migrate command (`pnpm migrate`, the compose `migrate` job): it connects as
 * a privileged role that owns the schemas, and grants each service's runtime role what that
 * service needs in its own schema: DATABASE_RUNTIME_ROLE_<SERVICE> when set, else the shared
 * DATABASE_RUNTIME_ROLE (which then reaches every schema: one role for all, as before).
 */
export const MigrationEnv = z
  .object({
    /** The privileged (owner) connection; DATABASE_URL when unset, as in dev where one role does all. */
    MIGRATION_DATABASE_URL: env.secret().optional(),
    DATABASE_URL: env.secret().optional(),
    /** The role the services connect as (DATABASE_URL's user); granted rows, never DDL. Unset: no grants. */
    DATABASE_RUNTIME_ROLE: RoleName,
    /**
     * Password of DATABASE_RUNTIME_ROLE: when set, the command creates that login role if it is
     * missing and sets its password (compose); when unset, the role must exist.
     */
    DATABASE_RUNTIME_PASSWORD: env.secret().optional(),
    /** The approval service's own role: rows of the approval schema only (audit events insert-only). */
    DATABASE_RUNTIME_ROLE_APPROVAL: RoleName,
    /** Password of DATABASE_RUNTIME_ROLE_APPROVAL (created or updated like DATABASE_RUNTIME_PASSWORD's). */
    DATABASE_RUNTIME_PASSWORD_APPROVAL: env.secret().optional(),
    /** The notifier's own role: rows of the notifier schema only, nothing of the approval schema. */
    DATABASE_RUNTIME_ROLE_NOTIFIER: RoleName,
    /** Password of DATABASE_RUNTIME_ROLE_NOTIFIER. */
    DATABASE_RUNTIME_PASSWORD_NOTIFIER: env.secret().optional(),
    LOG_LEVEL: CommonEnv.shape.LOG_LEVEL,
    LOG_PRETTY: env.bool(false),
  })
  .superRefine((v, ctx) => {
    if (!v.MIGRATION_DATABASE_URL && !v.DATABASE_URL)
      ctx.addIssue({
        code: 'custom',
        path: ['MIGRATION_DATABASE_URL'],
        message: 'required (or DATABASE_URL)',
      });
    for (const suffix of ['', '_APPROVAL', '_NOTIFIER'] as const) {
      if (v[`DATABASE_RUNTIME_PASSWORD${suffix}`] && !v[`DATABASE_RUNTIME_ROLE${suffix}`])
        ctx.addIssue({
          code: 'custom',
          path: [`DATABASE_RUNTIME_ROLE${suffix}`],
          message: `required with DATABASE_RUNTIME_PASSWORD${suffix}`,
        });
    }
  })
  .transform((v) => ({
    url: (v.MIGRATION_DATABASE_URL ?? v.DATABASE_URL) as Secret,
    runtimeRole: v.DATABASE_RUNTIME_ROLE,
    runtimePassword: v.DATABASE_RUNTIME_PASSWORD,
    /** Each service's own role, by service name, where one is set. */
    serviceRoles: Object.fromEntries(
      (
        [
          ['approval', v.DATABASE_RUNTIME_ROLE_APPROVAL, v.DATABASE_RUNTIME_PASSWORD_APPROVAL],
          ['notifier', v.DATABASE_RUNTIME_ROLE_NOTIFIER, v.DATABASE_RUNTIME_PASSWORD_NOTIFIER],
        ] as const
      )
        .filter(([, role]) => role !== undefined)
        .map(([service, role, password]) => [service, { role: role as string, password }]),
    ) as Record<string, RuntimeRole>,
    log: { level: v.LOG_LEVEL, pretty: v.LOG_PRETTY },
  }));
export type MigrationSettings = z.output<typeof MigrationEnv>;

/** A runtime role to grant, with the password to create or update it with (when given). */
export interface RuntimeRole {
  role: string;
  password?: Secret | undefined;
}
