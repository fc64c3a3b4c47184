/**
 * Upgrades with a real separate role: `pnpm migrate` applies every service's migrations as the
 * owner and grants a runtime login role (no DDL rights) what the services need; the services run
 * as that role with MIGRATE_ON_START=false and do all their work. A service refuses to start,
 * with one JSON line and exit 1, on a schema older than it needs or newer than it knows, unless
 * the newer migrations are all expand migrations (the rolling-upgrade case).
 */
import { randomBytes } from 'node:crypto';
import { CountersignClient } from '@countersign/client';
import { startMailSink } from '@countersign/devinfra';
import {
  onFileEnd,
  spawnService,
  TEST_AUDIT_KEY,
  TEST_DIRECTORY_FILE,
  testSigningKeysFile,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../services/notifier/test/helpers/notifier.js';
import { FAST_APPROVAL_ENV, payment, runScript, writeMailChannels } from './support.js';

const db = await useTestDatabase('migrate_roles');
const nats = await useTestNats();
const admin = new pg.Pool({ connectionString: db.url, max: 2 });
admin.on('error', () => {});

// A login role with no rights beyond connecting: no CREATE on the database or any schema.
const role = `cs_runtime_${randomBytes(4).toString('hex')}`;
await admin.query(`create role ${role} login password '${randomBytes(12).toString('hex')}'`);
onFileEnd(async () => {
  await admin.query(`drop owned by ${role}`);
  await admin.query(`drop role ${role}`);
  await admin.end();
});
const runtimeUrl = (() => {
  const url = new URL(db.url);
  url.username = role;
  return url.toString();
})();
const asRuntime = new pg.Pool({ connectionString: runtimeUrl, max: 2 });
asRuntime.on('error', () => {});
onFileEnd(() => asRuntime.end());

const migrateEnv = { MIGRATION_DATABASE_URL: db.url, DATABASE_URL: runtimeUrl, DATABASE_RUNTIME_ROLE: role };

describe('pnpm migrate', () => {
  it('migrates every schema as the owner and grants the runtime role, once', async () => {
    const first = await runScript('scripts/migrate.ts', migrateEnv);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const done = JSON.parse(first.lines.at(-1) as string);
    expect(done).toMatchObject({ service: 'migrate', msg: 'migrations done', runtime_role: role });
    expect(done.applied.approval).toContain('000001_init.sql');
    expect(done.applied.notifier).toContain('000001_deliveries.sql');

    const again = await runScript('scripts/migrate.ts', migrateEnv);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.lines.at(-1) as string).applied).toEqual({ approval: [], notifier: [] });

    const owners = await admin.query<{ nspname: string; owner: string }>(
      `select nspname, pg_get_userbyid(nspowner) as owner from pg_namespace where nspname in ('approval', 'notifier')`,
    );
    expect(owners.rows.map((r) => r.owner)).toEqual(['postgres', 'postgres']);
  });

  it('creates the runtime login role when given its password (compose needs no manual step)', async () => {
    const created = `cs_runtime_${randomBytes(4).toString('hex')}`;
    onFileEnd(async () => {
      await admin.query(`drop owned by ${created}`);
      await admin.query(`drop role ${created}`);
    });
    const run = await runScript('scripts/migrate.ts', {
      ...migrateEnv,
      DATABASE_RUNTIME_ROLE: created,
      DATABASE_RUNTIME_PASSWORD: 'a-runtime-password-never-logged',
    });
    expect(run.code).toBe(0);
    expect(run.lines.join('\n')).not.toContain('a-runtime-password-never-logged');
    const found = await admin.query<{ rolcanlogin: boolean; rolsuper: boolean; rolcreaterole: boolean }>(
      'select rolcanlogin, rolsuper, rolcreaterole from pg_roles where rolname = $1',
      [created],
    );
    expect(found.rows).toEqual([{ rolcanlogin: true, rolsuper: false, rolcreaterole: false }]);
    const grants = await admin.query('select has_table_privilege($1, $2, $3) as ok', [
      created,
      'approval.approvals',
      'INSERT',
    ]);
    expect(grants.rows[0].ok).toBe(true);
  });

  it('refuses a runtime role that does not exist, naming it', async () => {
    const run = await runScript('scripts/migrate.ts', {
      ...migrateEnv,
      DATABASE_RUNTIME_ROLE: 'cs_nobody_here',
    });
    expect(run.code).toBe(1);
    const line = JSON.parse(run.lines.at(-1) as string);
    expect(line).toMatchObject({ level: 60, msg: 'migrations failed' });
    expect(line.err.message).toMatch(/runtime role cs_nobody_here does not exist/);
  });

  it('leaves the runtime role rows to work with and no DDL', async () => {
    for (const statement of [
      'create table approval.sneaky (id int)',
      'create schema sneaky',
      'truncate approval.audit_events',
      'drop table notifier.events',
      "insert into approval.migrations (name, checksum) values ('999999_forged.sql', 'x')",
    ]) {
      await expect(asRuntime.query(statement), statement).rejects.toThrow(/permission denied|must be owner/);
    }
    const version = await asRuntime.query('select count(*)::int as n from approval.migrations');
    expect(version.rows[0].n).toBeGreaterThan(0);
  });
});

// Each service's own role (DATABASE_RUNTIME_ROLE_<SERVICE>): created by the command with its password.
const suffix = randomBytes(4).toString('hex');
const serviceRoles = {
  approval: { role: `cs_approval_${suffix}`, password: randomBytes(12).toString('hex') },
  notifier: { role: `cs_notifier_${suffix}`, password: randomBytes(12).toString('hex') },
};
onFileEnd(async () => {
  for (const { role: r } of Object.values(serviceRoles)) {
    await admin.query(`drop owned by ${r}`).catch(() => {});
    await admin.query(`drop role if exists ${r}`);
  }
});
const urlOf = ({ role: r, password }: { role: string; password: string }) => {
  const url = new URL(db.url);
  url.username = r;
  url.password = password;
  return url.toString();
};
const asApproval = new pg.Pool({ connectionString: urlOf(serviceRoles.approval), max: 2 });
asApproval.on('error', () => {});
onFileEnd(() => asApproval.end());
const asNotifier = new pg.Pool({ connectionString: urlOf(serviceRoles.notifier), max: 2 });
asNotifier.on('error', () => {});
onFileEnd(() => asNotifier.end());

describe('per-service runtime roles', () => {
  it('are created and granted their own schema only', async () => {
    const run = await runScript('scripts/migrate.ts', {
      MIGRATION_DATABASE_URL: db.url,
      DATABASE_RUNTIME_ROLE_APPROVAL: serviceRoles.approval.role,
      DATABASE_RUNTIME_PASSWORD_APPROVAL: serviceRoles.approval.password,
      DATABASE_RUNTIME_ROLE_NOTIFIER: serviceRoles.notifier.role,
      DATABASE_RUNTIME_PASSWORD_NOTIFIER: serviceRoles.notifier.password,
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.lines.at(-1) as string).service_roles).toEqual({
      approval: serviceRoles.approval.role,
      notifier: serviceRoles.notifier.role,
    });
    expect(run.lines.join('\n')).not.toContain(serviceRoles.approval.password);
  });

  it("refuse the approval role DDL, trigger changes, rewriting audit events or votes, and the notifier's tables", async () => {
    for (const statement of [
      'create table approval.sneaky (id int)',
      'alter table approval.approvals disable trigger approvals_terminal_audited',
      'alter table approval.audit_events disable trigger audit_events_append_only',
      'drop trigger approvals_guard on approval.approvals',
      'alter table approval.audit_events drop constraint audit_events_keyed',
      "update approval.audit_events set reason = 'forged'",
      'delete from approval.audit_events',
      'truncate approval.audit_events',
      'update approval.votes set approved = true',
      'delete from approval.votes',
      'select count(*) from notifier.deliveries',
    ]) {
      await expect(asApproval.query(statement), statement).rejects.toThrow(/permission denied|must be owner/);
    }
    // What it needs: rows of its own schema.
    await expect(asApproval.query('select count(*) from approval.approvals')).resolves.toBeTruthy();
  });

  it('refuse the notifier role every approval table', async () => {
    for (const table of ['approvals', 'votes', 'audit_events', 'outbox', 'migrations']) {
      await expect(asNotifier.query(`select 1 from approval.${table} limit 1`), table).rejects.toThrow(
        /permission denied/,
      );
    }
    await expect(asNotifier.query('select count(*) from notifier.deliveries')).resolves.toBeTruthy();
  });

  it('a terminal status without its audit event is refused at commit, even to the approval role', async () => {
    const id = `forged-${suffix}`;
    await asApproval.query(
      `insert into approval.approvals (action_id, action_type, description, requested_by, request_hash, status,
         policy, required_approvals, created_at, expires_at)
       values ($1, 'payment', 'x', 'dave', 'h', 'pending', '{}', 1, now(), now() + interval '1 hour')`,
      [id],
    );
    await expect(
      asApproval.query(
        `update approval.approvals set status = 'approved', decided_at = now(), decided_by = 'frank'
          where action_id = $1`,
        [id],
      ),
    ).rejects.toThrow(new RegExp(`approval ${id} is approved without an audit event approved`));
    // Inserted as decided right away: the same.
    await expect(
      asApproval.query(
        `insert into approval.approvals (action_id, action_type, description, requested_by, request_hash, status,
           policy, required_approvals, created_at, expires_at, decided_at, decided_by)
         values ($1, 'payment', 'x', 'dave', 'h', 'rejected', '{}', 1, now(), now(), now(), 'policy')`,
        [`${id}-2`],
      ),
    ).rejects.toThrow(/is rejected without an audit event rejected/);
    const row = await admin.query('select status from approval.approvals where action_id = $1', [id]);
    expect(row.rows[0].status).toBe('pending');
  });
});

describe('services running as their runtime roles', () => {
  it('do all their work: an approval is requested, notified, decided', async () => {
    const mail = await startMailSink();
    onFileEnd(mail.stop);
    const channels = writeMailChannels('migrate');
    const env = { NATS_URL: nats.url, MIGRATE_ON_START: 'false' };
    await spawnService('policy', { env: { NATS_URL: nats.url } });
    await spawnService('approval', {
      env: { ...env, DATABASE_URL: urlOf(serviceRoles.approval), ...FAST_APPROVAL_ENV },
    });
    await spawnService('notifier', {
      env: testEnv(db, nats.url, {
        ...env,
        DATABASE_URL: urlOf(serviceRoles.notifier),
        SMTP_URL: mail.url,
        NOTIFIER_CONFIG: channels,
        LOG_LEVEL: 'info',
      }),
    });

    const nc = await nats.connect();
    onFileEnd(() => nc.drain());
    const client = new CountersignClient(nc, { timeout: 10_000 });
    const { action_id } = await client.request(payment(`migrate-${randomBytes(4).toString('hex')}`, 1500));
    await waitUntil(async () => (await client.get(action_id)).status === 'pending', {
      message: 'the approval pending',
      timeout: 30_000,
    });
    await client.decide({ action_id, approved: true, decided_by: 'frank' });
    const approval = await client.waitForDecision(action_id, { timeout: 30_000 });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'frank' });
    await waitUntil(async () => mail.received.some((m) => m.to.includes('frank@example.test')), {
      message: "frank's email",
      timeout: 30_000,
    });
    const deliveries = await admin.query('select count(*)::int as n from notifier.deliveries');
    expect(deliveries.rows[0].n).toBeGreaterThan(0);
  });
});

describe('a service that does not migrate at start', () => {
  it('refuses a database older than it needs: run pnpm migrate', async () => {
    const empty = await useTestDatabase('migrate_older');
    const run = await runScript('services/approval/src/main.ts', {
      ...nats.env('approval'),
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      AUDIT_KEY: TEST_AUDIT_KEY,
      SIGNING_KEYS_FILE: testSigningKeysFile(),
      // Only the refusal: not the info line of the directory loading before it.
      LOG_LEVEL: 'warn',
      DATABASE_URL: empty.url,
      MIGRATE_ON_START: 'false',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    expect(run.lines).toHaveLength(1);
    const line = JSON.parse(run.lines[0] as string);
    expect(line).toMatchObject({
      level: 60,
      service: 'approval',
      schema: 'approval',
      database_version: null,
    });
    expect(line.msg).toMatch(/older than this service: run `pnpm migrate`/);
    expect(line.missing).toContain('000001_init.sql');
  });

  it('refuses a schema its role was not granted, naming the role to grant', async () => {
    const ungranted = `cs_ungranted_${randomBytes(4).toString('hex')}`;
    await admin.query(`create role ${ungranted} login`);
    onFileEnd(async () => {
      await admin.query(`drop role ${ungranted}`);
    });
    const url = new URL(db.url);
    url.username = ungranted;
    const run = await runScript('services/approval/src/main.ts', {
      ...nats.env('approval'),
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      AUDIT_KEY: TEST_AUDIT_KEY,
      SIGNING_KEYS_FILE: testSigningKeysFile(),
      // Only the refusal: not the info line of the directory loading before it.
      LOG_LEVEL: 'warn',
      DATABASE_URL: url.toString(),
      MIGRATE_ON_START: 'false',
    });
    expect(run.code).toBe(1);
    expect(run.lines).toHaveLength(1);
    const line = JSON.parse(run.lines[0] as string);
    expect(line).toMatchObject({ level: 60, schema: 'approval', role: ungranted });
    expect(line.msg).toContain(
      `may not read it: run \`pnpm migrate\` with DATABASE_RUNTIME_ROLE=${ungranted}`,
    );
  });

  it('refuses a database newer than it knows, unless the newer migrations are expand migrations', async () => {
    const future = '999999_from_a_newer_version.sql';
    await admin.query("insert into approval.migrations (name, checksum) values ($1, 'x')", [future]);
    const env = { NATS_URL: nats.url, DATABASE_URL: runtimeUrl, MIGRATE_ON_START: 'false' };
    const run = await runScript('services/approval/src/main.ts', {
      ...env,
      ...nats.env('approval'),
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      AUDIT_KEY: TEST_AUDIT_KEY,
      SIGNING_KEYS_FILE: testSigningKeysFile(),
      LOG_LEVEL: 'warn',
    });
    expect(run.code).toBe(1);
    expect(run.lines).toHaveLength(1);
    const line = JSON.parse(run.lines[0] as string);
    expect(line).toMatchObject({
      level: 60,
      schema: 'approval',
      database_version: future,
      unknown: [future],
    });
    expect(line.msg).toMatch(/newer than this service: upgrade the service, or roll back the migration/);

    // The same with migrating at start: a newer version's files are not this one's to judge.
    const migrating = await runScript('services/approval/src/main.ts', {
      ...env,
      ...nats.env('approval'),
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      AUDIT_KEY: TEST_AUDIT_KEY,
      SIGNING_KEYS_FILE: testSigningKeysFile(),
      DATABASE_URL: db.url,
      MIGRATE_ON_START: 'true',
    });
    expect(migrating.code).toBe(1);
    expect(JSON.parse(migrating.lines.at(-1) as string).unknown).toEqual([future]);

    // A newer version's expand migration: this (older) version keeps running on it.
    await admin.query('update approval.migrations set expand = true where name = $1', [future]);
    const older = await spawnService('approval', { env: { ...env, ...FAST_APPROVAL_ENV } });
    await older.stop();
    await admin.query('delete from approval.migrations where name = $1', [future]);
  });
});
