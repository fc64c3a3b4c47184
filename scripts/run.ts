/**
 * The dev run: starts (or reuses) PostgreSQL and NATS, a local SMTP sink, and the policy,
 * approval and notifier services; prints where everything is; stops it all on Ctrl-C.
 *
 * DATABASE_URL, NATS_URL and SMTP_URL point it at real infrastructure instead.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  isListening,
  REPO_ROOT,
  type ServiceName,
  type ServiceProcess,
  startInfra,
  startMailSink,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';

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

// PostgreSQL runs as the `postgres` user when we are root, and that user cannot enter root's
// home: keep its data under /var/lib then. Data persists across dev runs either way.
const pgData =
  process.env.COUNTERSIGN_DEV_PGDATA ??
  (process.getuid?.() === 0 ? '/var/lib/countersign/dev/pgdata' : join(devDir, 'pgdata'));
const infra = await startInfra({
  postgres: { dataDir: pgData, port: Number(process.env.PG_PORT ?? 5433) },
  nats: { port: natsPort, storeDir: join(devDir, 'jetstream') },
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

const publicUrl = process.env.PUBLIC_URL ?? `http://127.0.0.1:${httpPort}`;
const devToken = process.env.DEV_API_TOKEN ?? devSecret('api-token');
const common = {
  NATS_URL: infra.natsUrl,
  DATABASE_URL: infra.databaseUrl,
  DIRECTORY_FILE: process.env.DIRECTORY_FILE ?? join(REPO_ROOT, 'deploy/directory.yaml'),
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  PUBLIC_URL: publicUrl,
  REVIEW_LINK_SECRET: process.env.REVIEW_LINK_SECRET ?? devSecret('review-link-secret'),
};
const envFor: Record<ServiceName, Record<string, string>> = {
  policy: { ...common, POLICY_WATCH: 'true', OPA_BIN: tool('opa') },
  approval: {
    ...common,
    HTTP_PORT: String(httpPort),
    // Dev identities for the HTTP API and dashboard: one token per sample approver.
    API_TOKENS: process.env.API_TOKENS ?? `${devToken}:alice`,
  },
  notifier: {
    ...common,
    SMTP_URL: process.env.SMTP_URL ?? (mailSink as { url: string }).url,
    NOTIFIER_CONFIG: process.env.NOTIFIER_CONFIG ?? join(REPO_ROOT, 'scripts/dev/channels.yaml'),
    // The dev sink and the dev HTTP server are on loopback over plain HTTP.
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
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
  for (const name of ['policy', 'approval', 'notifier'] as const) {
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
  console.error(String((err as Error).message));
  await stopAll();
  process.exit(1);
}

console.log(`
Countersign is running (${running.map((s) => s.name).join(', ') || 'infrastructure only'}).

  NATS        ${infra.natsUrl}
  PostgreSQL  ${infra.databaseUrl}
  HTTP        ${publicUrl}   (dashboard: ${publicUrl}/ , API token for alice: ${devToken})
  SMTP        ${process.env.SMTP_URL ? 'SMTP_URL' : `${mailSink?.url} (dev sink: mail is printed here)`}
  Policy      edit policies/countersign/*.rego or data.json: it reloads within seconds

  Tools       export PATH="${dirname(tool('nats'))}:$PATH"   (nats, opa, nats-server, pnpm)

Try it (NATS CLI: ${tool('nats')}):
  nats req policy.evaluate '{"action_id":"p1","action_type":"payment","description":"Pay invoice 42","requested_by":"dave","context":{"amount":1500}}'
  nats req approval.submit '{"action_id":"pay-42","action_type":"payment","description":"Pay invoice 42","requested_by":"dave","context":{"amount":1500}}'
  nats req approval.list '{"status":"pending"}'
  nats req approval.decide '{"action_id":"pay-42","approved":true,"decided_by":"frank","reason":"invoice checked"}'
  nats sub 'approval.decided.>'

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
