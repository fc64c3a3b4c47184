/**
 * The dev run: starts (or reuses) PostgreSQL and NATS, a local SMTP sink, and the policy,
 * approval and notifier services; prints where everything is; stops it all on Ctrl-C.
 *
 * DATABASE_URL, NATS_URL and SMTP_URL point it at real infrastructure instead.
 *
 * NATS runs with authentication on: a user per service and per directory entry, passwords
 * generated once and kept in the dev data directory (mode 0600), and a NATS CLI context per
 * identity (`nats --context frank …`). NATS_AUTH=off runs it without authentication (dev only;
 * every service warns). With NATS_URL, the services use NATS_CREDS or NATS_USER/NATS_PASSWORD
 * from this environment.
 *
 * Whatever it cannot reach (a DATABASE_URL or NATS_URL pointing at nothing, a service that stops
 * at start) it says in one line, naming the dependency and where (never a password), stops what
 * it started and exits 1.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  isListening,
  NatsAuth,
  REPO_ROOT,
  type ServiceName,
  type ServiceProcess,
  ServiceStartError,
  startInfra,
  startMailSink,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';
import { Directory } from '../packages/runtime/src/directory/index.js';
import { newKeySetText } from '../packages/runtime/src/signing-keys.js';
import { describeNats, probeDatabase, StartupError } from '../packages/runtime/src/startup.js';
import { writeNatsContexts } from './dev/nats-contexts.js';

// The bootstrap's rule (it exports COUNTERSIGN_CACHE): COUNTERSIGN_CACHE, else XDG_CACHE_HOME, else ~/.cache.
const cacheRoot =
  process.env.COUNTERSIGN_CACHE ??
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'countersign');
const devDir = join(cacheRoot, 'dev');
mkdirSync(devDir, { recursive: true });
const natsPort = Number(process.env.NATS_PORT ?? 4222);
const httpPort = Number(process.env.HTTP_PORT ?? 8080);
const verbose = process.argv.includes('--verbose');

/** Dev secrets: generated once, kept in the cache so links and tokens survive restarts. */
function devSecret(name: string): string {
  const file = join(devDir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/**
 * The key set receipts are signed with: generated once, kept in the cache (mode 0600) so that
 * receipts of earlier runs keep verifying; SIGNING_KEYS_FILE points at another one.
 */
function devSigningKeysFile(): string {
  const file = join(devDir, 'signing-keys.json');
  if (!existsSync(file)) writeFileSync(file, newKeySetText(), { mode: 0o600 });
  return file;
}

// PostgreSQL runs as the `postgres` user when we are root, and that user cannot enter root's
// home: keep its data under /var/lib then. Data persists across dev runs either way.
const pgData =
  process.env.COUNTERSIGN_DEV_PGDATA ??
  (process.getuid?.() === 0 ? '/var/lib/countersign/dev/pgdata' : join(devDir, 'pgdata'));
const directoryFile = process.env.DIRECTORY_FILE ?? join(REPO_ROOT, 'deploy/directory.yaml');
const authOff = process.env.NATS_AUTH === 'off';
const ownNats = !process.env.NATS_URL;
/** The users of the directory, with the passwords of earlier runs (new entries get new ones). */
function devNatsAuth(): NatsAuth {
  const file = join(devDir, 'nats-passwords.json');
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const auth = NatsAuth.of(Directory.parse(readFileSync(directoryFile, 'utf8')), kept);
  writeFileSync(file, `${JSON.stringify(auth.passwords, null, 2)}\n`, { mode: 0o600 });
  return auth;
}
/** Says what stopped the run in one line, on stderr, and exits 1 (after `stop`, if given). */
async function fail(message: string, stop?: () => Promise<void>): Promise<never> {
  console.error(`countersign: ${message}`);
  await stop?.().catch(() => {});
  process.exit(1);
}

/** Within a few seconds: the first NATS server of NATS_URL that accepts a TCP connection. */
async function reachableNats(url: string, timeoutMs: number): Promise<boolean> {
  const servers = url
    .split(',')
    .map((s) => new URL(s.trim().includes('://') ? s.trim() : `nats://${s.trim()}`));
  const deadline = Date.now() + timeoutMs;
  do {
    for (const server of servers) {
      const ok = await new Promise<boolean>((resolveCheck) => {
        const socket = new Socket();
        const done = (result: boolean) => {
          socket.destroy();
          resolveCheck(result);
        };
        socket.setTimeout(1_000, () => done(false));
        socket.once('error', () => done(false));
        socket.connect(Number(server.port || 4222), server.hostname, () => done(true));
      });
      if (ok) return true;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 250));
  } while (Date.now() < deadline);
  return false;
}

// Infrastructure given by URL is checked before anything is started: a wrong URL is reported
// at once, not as a service that times out.
const PREFLIGHT_MS = 5_000;
if (process.env.DATABASE_URL) {
  await probeDatabase(process.env.DATABASE_URL, PREFLIGHT_MS).catch((err: unknown) =>
    // Anything else is a URL pg cannot use; its text might quote the URL, password and all.
    fail(
      err instanceof StartupError ? err.message : 'DATABASE_URL is not a PostgreSQL URL it can connect with',
    ),
  );
}
if (process.env.NATS_URL) {
  let reachable = false;
  try {
    reachable = await reachableNats(process.env.NATS_URL, PREFLIGHT_MS);
  } catch {
    await fail('NATS_URL is not a list of nats:// URLs');
  }
  if (!reachable) {
    await fail(
      `cannot reach NATS at ${describeNats(process.env.NATS_URL)} (NATS_URL) within ${PREFLIGHT_MS} ms`,
    );
  }
}

const natsAuth = ownNats && !authOff ? devNatsAuth() : undefined;
const infra = await startInfra({
  postgres: { dataDir: pgData, port: Number(process.env.PG_PORT ?? 5433) },
  nats: {
    port: natsPort,
    storeDir: join(devDir, 'jetstream'),
    ...(natsAuth ? { extraConfig: natsAuth.config() } : {}),
  },
});
const mailSink = process.env.SMTP_URL
  ? undefined
  : await startMailSink({
      onMail: (mail) => {
        const links = mail.text.match(/https?:\/\/\S+\/review\?token=\S+/g) ?? [];
        console.log(
          `[mail] to ${mail.to.join(', ')}: ${mail.subject}${links.map((l) => `\n        ${l}`).join('')}`,
        );
      },
    });

/**
 * On the run's own PostgreSQL, the services run as in production: `pnpm migrate` as the owner,
 * then each service as its own role (rows of its own schema only, audit events insert-only),
 * never migrating at start. With DATABASE_URL, that database's user does everything, as before.
 */
function serviceDatabases(): Record<'approval' | 'notifier', Record<string, string>> {
  if (process.env.DATABASE_URL) {
    return { approval: { DATABASE_URL: infra.databaseUrl }, notifier: { DATABASE_URL: infra.databaseUrl } };
  }
  const roles = {
    approval: { role: 'countersign_approval', password: devSecret('pg-approval-password') },
    notifier: { role: 'countersign_notifier', password: devSecret('pg-notifier-password') },
  };
  const migrated = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/migrate.ts')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      MIGRATION_DATABASE_URL: infra.databaseUrl,
      DATABASE_RUNTIME_ROLE_APPROVAL: roles.approval.role,
      DATABASE_RUNTIME_PASSWORD_APPROVAL: roles.approval.password,
      DATABASE_RUNTIME_ROLE_NOTIFIER: roles.notifier.role,
      DATABASE_RUNTIME_PASSWORD_NOTIFIER: roles.notifier.password,
      LOG_LEVEL: 'warn',
    },
    encoding: 'utf8',
  });
  if (migrated.status !== 0) {
    console.error(`pnpm migrate failed:\n${migrated.stdout}${migrated.stderr}`);
    process.exit(1);
  }
  const urlOf = ({ role, password }: { role: string; password: string }) => {
    const url = new URL(infra.databaseUrl);
    url.username = role;
    url.password = password;
    return { DATABASE_URL: url.toString(), MIGRATE_ON_START: 'false' };
  };
  return { approval: urlOf(roles.approval), notifier: urlOf(roles.notifier) };
}
const databases = serviceDatabases();

const publicUrl = process.env.PUBLIC_URL ?? `http://127.0.0.1:${httpPort}`;
const devToken = process.env.DEV_API_TOKEN ?? devSecret('api-token');
const common = {
  NATS_URL: infra.natsUrl,
  ...(authOff ? { NATS_AUTH: 'off' } : {}),
  DATABASE_URL: infra.databaseUrl,
  DIRECTORY_FILE: directoryFile,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  PUBLIC_URL: publicUrl,
  REVIEW_LINK_SECRET: process.env.REVIEW_LINK_SECRET ?? devSecret('review-link-secret'),
  // The approval service keys its audit chain with it; the notifier ignores it.
  AUDIT_KEY: process.env.AUDIT_KEY ?? devSecret('audit-key'),
};
/** Each service's own NATS user on the server this run started. */
const login = (name: ServiceName) => {
  if (!natsAuth) return {};
  const { NATS_URL: _url, ...credentials } = natsAuth.env(name, infra.natsUrl);
  return credentials;
};
// COUNTERSIGN_MCP=1 also starts the MCP gateway on HTTP (docs/agents.md), for ops-agent.
const withMcp = process.env.COUNTERSIGN_MCP === '1';
const mcpToken = devSecret('mcp-token');
const mcpPort = process.env.MCP_HTTP_PORT ?? '8090';
const envFor: Record<ServiceName, Record<string, string>> = {
  policy: { ...common, ...login('policy'), POLICY_WATCH: 'true', OPA_BIN: tool('opa') },
  approval: {
    ...common,
    ...databases.approval,
    ...login('approval'),
    HTTP_PORT: String(httpPort),
    ...(process.env.SIGNING_KEYS
      ? {}
      : { SIGNING_KEYS_FILE: process.env.SIGNING_KEYS_FILE ?? devSigningKeysFile() }),
    // Dev identities for the HTTP API and dashboard: one token per sample approver.
    API_TOKENS: process.env.API_TOKENS ?? `${devToken}:alice`,
  },
  notifier: {
    ...common,
    ...databases.notifier,
    ...login('notifier'),
    SMTP_URL: process.env.SMTP_URL ?? (mailSink as { url: string }).url,
    NOTIFIER_CONFIG: process.env.NOTIFIER_CONFIG ?? join(REPO_ROOT, 'scripts/dev/channels.yaml'),
    // The dev sink and the dev HTTP server are on loopback over plain HTTP.
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
  },
  mcp: {
    ...common,
    ...(natsAuth
      ? (({ NATS_URL: _url, ...credentials }) => credentials)(natsAuth.env('mcp-gateway', infra.natsUrl))
      : { MCP_IDENTITY: 'mcp-gateway' }),
    MCP_TRANSPORT: 'http',
    MCP_HTTP_PORT: mcpPort,
    MCP_API_TOKENS: `${mcpToken}:ops-agent`,
    DASHBOARD_URL: publicUrl,
  },
};

const running: ServiceProcess[] = [];
let watchdog: NodeJS.Timeout | undefined;
const stopAll = async () => {
  clearInterval(watchdog);
  await Promise.allSettled(running.reverse().map((s) => s.stop()));
  await mailSink?.stop();
  await infra.stop();
};

try {
  for (const name of ['policy', 'approval', 'notifier', ...(withMcp ? (['mcp'] as const) : [])] as const) {
    if (!existsSync(join(REPO_ROOT, `services/${name}/src/main.ts`))) continue;
    const service = await startServiceProcess(name, {
      env: envFor[name],
      onLine: (line) => {
        if (verbose || /"level":(40|50|60)/.test(line)) console.log(`[${name}] ${line}`);
      },
    });
    running.push(service);
  }
} catch (err) {
  // The service's own fatal line says what it could not reach; the rest of its log is noise here.
  if (err instanceof ServiceStartError && err.fatal)
    await fail(`${err.service} service: ${err.fatal}`, stopAll);
  await fail(String((err as Error).message), stopAll);
}

const contexts = natsAuth ? writeNatsContexts(natsAuth, infra.natsUrl) : undefined;
const natsLine = natsAuth
  ? `${infra.natsUrl}   (authentication on: a user per service and directory entry, passwords in ${join(devDir, 'nats-passwords.json')})`
  : ownNats
    ? `${infra.natsUrl}   (NATS_AUTH=off: anyone reaching it can act as anyone, dev only)`
    : `${infra.natsUrl}   (NATS_URL: the services use this environment's NATS credentials)`;
const natsCli = contexts
  ? `NATS CLI contexts, one per identity (${contexts.dir}):
  ${contexts.written.join(', ')}${contexts.skipped.length > 0 ? `\n  left alone (not written by Countersign): ${contexts.skipped.join(', ')}` : ''}

Try it (each command runs as the person or system its context names; NATS CLI: ${tool('nats')}):
  nats --context countersign-ops micro ls
  nats --context dave req policy.evaluate '{"action_id":"p1","action_type":"payment","description":"Pay invoice 42","requested_by":"dave","context":{"amount":1500}}'
  nats --context dave req approval.submit.dave '{"action_id":"pay-42","action_type":"payment","description":"Pay invoice 42","requested_by":"dave","context":{"amount":1500}}'
  nats --context frank req approval.list '{"status":"pending"}'
  nats --context frank req approval.decide.frank '{"action_id":"pay-42","approved":true,"reason":"invoice checked"}'
  nats --context frank sub 'approval.decided.>'
  (bob cannot vote as frank: nats --context bob req approval.decide.frank … is refused by the server)

The examples connect as their requesting system (billing-job, ci-pipeline, payment-job) with
the context of that name; NATS_USER/NATS_PASSWORD or NATS_CREDS override it, for example:
  ${Object.entries(natsAuth?.env('billing-job', infra.natsUrl) ?? {})
    .filter(([k]) => k !== 'NATS_URL')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')} node --import tsx examples/quickstart.ts`
  : `Try it (NATS CLI: ${tool('nats')}):
  nats req policy.evaluate '{"action_id":"p1","action_type":"payment","description":"Pay invoice 42","requested_by":"dave","context":{"amount":1500}}'
  nats req approval.list '{"status":"pending"}'`;

if (authOff) {
  console.warn(
    'warning: NATS_AUTH=off: nats-server runs without authentication; identities on NATS are not proven (dev only)',
  );
}
console.log(`
Countersign is running (${running.map((s) => s.name).join(', ') || 'infrastructure only'}).

  NATS        ${natsLine}
  PostgreSQL  ${infra.databaseUrl}
  HTTP        ${publicUrl}   (dashboard: ${publicUrl}/ , API token for alice: ${devToken})
  MCP         ${withMcp ? `http://127.0.0.1:${mcpPort}/mcp   (bearer token for ops-agent: ${mcpToken}; docs/agents.md)` : 'off (COUNTERSIGN_MCP=1 starts the MCP gateway on HTTP)'}
  SMTP        ${process.env.SMTP_URL ? 'SMTP_URL' : `${mailSink?.url} (dev sink: mail is printed here)`}
  Policy      edit policies/countersign/*.rego or data.json: it reloads within seconds
  Directory   ${directoryFile} (services reload it; NATS users change on the next run)

  Tools       export PATH="${dirname(tool('nats'))}:$PATH"   (nats, opa, nats-server, pnpm)

${natsCli}

Ctrl-C stops everything.
`);

let stopping = false;
const onSignal = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(130);
  stopping = true;
  console.log(`\n${signal}: stopping...`);
  await stopAll();
  process.exit(0);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

// If the database or NATS that this run started dies, say so and stop, rather than leave the
// services retrying against nothing.
const watched = [infra.postgres, infra.nats].filter((h) => h !== undefined);
watchdog = setInterval(async () => {
  for (const handle of watched) {
    if (!(await isListening(handle.port))) {
      console.error(
        `\n${handle === infra.postgres ? 'PostgreSQL' : 'nats-server'} stopped unexpectedly; stopping.`,
      );
      await stopAll();
      process.exit(1);
    }
  }
}, 2000);
watchdog.unref();
