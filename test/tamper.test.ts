/**
 * Tamper evidence, as an attacker with database access would try it (issue 14, "Done when"):
 * approvals, votes and audit rows edited directly in PostgreSQL, first with the approval
 * service's own role (what it may do: insert events and votes, update a pending status with a
 * matching forged event), then with the owner's (disable triggers, rewrite a whole chain, even
 * with the audit key; delete an approval; truncate a chain). `pnpm verify-audit` reports every
 * edit, naming the first event or row that disagrees, and nothing else.
 */
import { randomBytes } from 'node:crypto';
import { CountersignClient } from '@countersign/client';
import {
  onFileEnd,
  spawnService,
  TEST_AUDIT_KEY,
  testSigningKeysFile,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  type ChainEvent,
  GENESIS_HASH,
  keyedAuditHash,
  plainAuditHash,
} from '../services/approval/src/audit.js';
import { AuditKey } from '../services/approval/src/audit-key.js';
import { runVerifyAudit } from '../services/approval/src/verify-audit.js';
import { FAST_APPROVAL_ENV, payment, runScript } from './support.js';

const db = await useTestDatabase('tamper');
const nats = await useTestNats();
const owner = new pg.Pool({ connectionString: db.url, max: 2 });
owner.on('error', () => {});
onFileEnd(() => owner.end());

// The approval service runs as its own role, as `pnpm migrate` grants it.
const role = {
  name: `cs_tamper_${randomBytes(4).toString('hex')}`,
  password: randomBytes(12).toString('hex'),
};
onFileEnd(async () => {
  await owner.query(`drop owned by ${role.name}`).catch(() => {});
  await owner.query(`drop role if exists ${role.name}`);
});
const serviceUrl = (() => {
  const url = new URL(db.url);
  url.username = role.name;
  url.password = role.password;
  return url.toString();
})();
const asService = new pg.Pool({ connectionString: serviceUrl, max: 2 });
asService.on('error', () => {});
onFileEnd(() => asService.end());

const key = AuditKey.of(TEST_AUDIT_KEY);
const verifyEnv = {
  ...nats.env('ops'),
  DATABASE_URL: serviceUrl,
  AUDIT_KEY: TEST_AUDIT_KEY,
  SIGNING_KEYS_FILE: testSigningKeysFile(),
};

async function verify(args: string[] = ['--all']): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runVerifyAudit(args, verifyEnv, (line) => lines.push(line));
  return { code, lines };
}

async function chainOf(db: pg.Pool, actionId: string): Promise<ChainEvent[]> {
  const rows = await db.query(
    'select seq, event, actor, reason, data, at, prev_hash, hash, key_id from approval.audit_events where action_id = $1 order by seq',
    [actionId],
  );
  return rows.rows.map((r) => ({ ...r, at: (r.at as Date).toISOString() }));
}

/** An event chained onto `prev` the way a writer computes it: plain sha256, or with a key. */
function forgedEvent(
  actionId: string,
  prev: ChainEvent,
  content: Omit<ChainEvent, 'seq' | 'prev_hash' | 'hash'>,
  withKey?: AuditKey,
) {
  const event = {
    seq: prev.seq + 1,
    event: content.event,
    actor: content.actor,
    reason: content.reason,
    data: content.data,
    at: content.at,
  };
  const hash = withKey
    ? keyedAuditHash(withKey, prev.hash, actionId, event)
    : plainAuditHash(prev.hash, actionId, event);
  return { ...event, prev_hash: prev.hash, hash };
}

async function insertEvent(
  db: pg.Pool | pg.PoolClient,
  actionId: string,
  e: ReturnType<typeof forgedEvent>,
  keyId: string | null,
) {
  await db.query(
    `insert into approval.audit_events (action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [actionId, e.seq, e.event, e.actor, e.reason, JSON.stringify(e.data), e.at, e.prev_hash, e.hash, keyId],
  );
}

/** Runs `fn` as the owner with the table's triggers off (what only its owner can do). */
async function withTriggersOff(tables: string[], fn: (client: pg.PoolClient) => Promise<void>) {
  const client = await owner.connect();
  try {
    await client.query('begin');
    for (const t of tables) await client.query(`alter table approval.${t} disable trigger all`);
    await fn(client);
    for (const t of tables) await client.query(`alter table approval.${t} enable trigger all`);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

const run = randomBytes(3).toString('hex');
const id = (name: string) => `${name}-${run}`;
const PENDING = ['svc-status', 'svc-event', 'svc-vote', 'untouched-pending'].map(id);
const DECIDED = [
  'own-edit',
  'own-plain-chain',
  'own-keyed-chain',
  'own-delete',
  'own-truncate',
  'untouched-decided',
].map(id);

describe('verify-audit against a tampered database', () => {
  it('agrees with an untouched record, heads included', async () => {
    const migrated = await runScript('scripts/migrate.ts', {
      MIGRATION_DATABASE_URL: db.url,
      DATABASE_RUNTIME_ROLE_APPROVAL: role.name,
      DATABASE_RUNTIME_PASSWORD_APPROVAL: role.password,
    });
    expect(migrated.code).toBe(0);
    await spawnService('policy', { env: { NATS_URL: nats.url } });
    await spawnService('approval', {
      env: {
        NATS_URL: nats.url,
        DATABASE_URL: serviceUrl,
        MIGRATE_ON_START: 'false',
        AUDIT_CHECKPOINT_INTERVAL: '1s',
        ...FAST_APPROVAL_ENV,
      },
    });
    const nc = await nats.connect();
    onFileEnd(() => nc.drain());
    const client = new CountersignClient(nc, { timeout: 10_000 });
    for (const actionId of [...PENDING, ...DECIDED]) await client.request(payment(actionId, 1500));
    await waitUntil(
      async () =>
        (await asService.query("select count(*)::int as n from approval.approvals where status = 'pending'"))
          .rows[0].n ===
        PENDING.length + DECIDED.length,
      { message: 'every approval pending', timeout: 30_000 },
    );
    for (const actionId of DECIDED) {
      await client.decide({ action_id: actionId, approved: true, decided_by: 'frank', reason: 'ok' });
    }
    // Every chain's head is published (after each change, and by the checkpoint).
    await waitUntil(async () => (await verify()).code === 0, {
      message: 'verify-audit agreeing',
      timeout: 30_000,
    });
    const { lines } = await verify();
    expect(lines.at(-1)).toMatch(
      /^10 approval\(s\) checked against \d+ signed head message\(s\): every record agrees$/,
    );
  });

  it('reports what the service role may do: a forged status with its event, an inserted event, a vote without one', async () => {
    // The trigger wants a terminal status's event: the writer forges one (it knows the key id, not the key).
    for (const keyId of [key.id]) {
      const [requested] = await chainOf(asService, id('svc-status'));
      const approved = forgedEvent(id('svc-status'), requested as ChainEvent, {
        event: 'approved',
        actor: 'frank',
        reason: 'looks fine',
        data: {},
        at: new Date().toISOString(),
      });
      const client = await asService.connect();
      try {
        await client.query('begin');
        await insertEvent(client, id('svc-status'), approved, keyId);
        await client.query(
          "update approval.approvals set status = 'approved', decided_at = now(), decided_by = 'frank' where action_id = $1",
          [id('svc-status')],
        );
        await client.query('commit');
      } finally {
        client.release();
      }
    }
    // A plain sha256 row (the rule before the key) is refused outright: no key id, no row.
    const [first] = await chainOf(asService, id('svc-event'));
    const voted = forgedEvent(id('svc-event'), first as ChainEvent, {
      event: 'voted',
      actor: 'alice',
      reason: null,
      data: { approved: true },
      at: new Date().toISOString(),
    });
    await expect(insertEvent(asService, id('svc-event'), voted, null)).rejects.toThrow(/audit_events_keyed/);
    // With a key id, but a hash under another key: inserted, and found.
    await insertEvent(
      asService,
      id('svc-event'),
      {
        ...voted,
        hash: keyedAuditHash(
          AuditKey.of('a guess at the audit key, long enough'),
          first!.hash,
          id('svc-event'),
          voted,
        ),
      },
      key.id,
    );
    await asService.query(
      "insert into approval.votes (action_id, voter, approved, reason, at) values ($1, 'alice', true, null, now())",
      [id('svc-event')],
    );
    // A vote row without its event.
    await asService.query(
      "insert into approval.votes (action_id, voter, approved, reason, at) values ($1, 'mallory', true, null, now())",
      [id('svc-vote')],
    );
    // What the role may not do at all: rewrite events or votes, or switch a guard off.
    await expect(
      asService.query('update approval.votes set approved = false where action_id = $1', [id('svc-vote')]),
    ).rejects.toThrow(/permission denied/);
    await expect(
      asService.query('delete from approval.audit_events where action_id = $1', [id('svc-vote')]),
    ).rejects.toThrow(/permission denied/);
    await expect(asService.query('alter table approval.approvals disable trigger all')).rejects.toThrow(
      /must be owner/,
    );

    const { code, lines } = await verify();
    expect(code).toBe(1);
    expect(lines).toContain(`${id('svc-status')}: event 2: hash does not match the content`);
    expect(lines).toContain(`${id('svc-event')}: event 2: hash does not match the content`);
    expect(lines).toContain(`${id('svc-vote')}: votes(mallory): a vote without its audit event`);
  });

  it('reports what the owner may do: edit an event, rewrite a whole chain (even with the audit key), delete an approval, truncate a chain', async () => {
    // An event edited with the append-only trigger off.
    await withTriggersOff(['audit_events'], async (c) => {
      await c.query("update approval.audit_events set reason = 'forged' where action_id = $1 and seq = 2", [
        id('own-edit'),
      ]);
    });
    // A whole chain rewritten as plain sha256 rows (the rule of the old, unkeyed rows): frank becomes alice.
    // A whole chain rewritten with the audit key itself: only the published heads know better.
    for (const [target, withKey] of [
      [id('own-plain-chain'), undefined],
      [id('own-keyed-chain'), key],
    ] as const) {
      const chain = await chainOf(owner, target);
      await withTriggersOff(['audit_events', 'votes', 'approvals'], async (c) => {
        await c.query('alter table approval.audit_events drop constraint if exists audit_events_keyed');
        await c.query('delete from approval.audit_events where action_id = $1', [target]);
        let prev: ChainEvent = { seq: 0, hash: GENESIS_HASH } as ChainEvent;
        for (const event of chain) {
          const actor = event.actor === 'frank' ? 'alice' : event.actor;
          const rewritten = forgedEvent(target, prev, { ...event, actor }, withKey);
          await insertEvent(c, target, rewritten, withKey ? withKey.id : null);
          prev = rewritten as ChainEvent;
        }
        await c.query("update approval.votes set voter = 'alice' where action_id = $1", [target]);
        await c.query("update approval.approvals set decided_by = 'alice' where action_id = $1", [target]);
        await c.query(
          'alter table approval.audit_events add constraint audit_events_keyed check (key_id is not null) not valid',
        );
      });
    }
    // An approval deleted with everything of it; a chain cut short.
    await withTriggersOff(['audit_events', 'votes', 'approvals'], async (c) => {
      for (const table of ['audit_events', 'votes', 'outbox', 'used_review_tokens']) {
        await c.query(`delete from approval.${table} where action_id = $1`, [id('own-delete')]);
      }
      await c.query('delete from approval.approvals where action_id = $1', [id('own-delete')]);
      await c.query('delete from approval.audit_events where action_id = $1 and seq >= 2', [
        id('own-truncate'),
      ]);
      await c.query('delete from approval.votes where action_id = $1', [id('own-truncate')]);
      await c.query(
        "update approval.approvals set status = 'pending', decided_at = null, decided_by = null, decision_reason = null where action_id = $1",
        [id('own-truncate')],
      );
    });

    const { code, lines } = await verify();
    expect(code).toBe(1);
    expect(lines).toContain(`${id('own-edit')}: event 2: hash does not match the content`);
    // A plain rewrite breaks at its first event: the head signed at the request knows its hash.
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${id('own-plain-chain')}: event 1: rewritten: its hash differs from the head signed at `,
        ),
      ),
    );
    // With the key the chain verifies; the first published head it no longer matches is after frank's vote.
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${id('own-keyed-chain')}: event 3: rewritten: its hash differs from the head signed at `,
        ),
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${id('own-delete')}: event 1: missing: a head signed at .* has event 1, the database has no events and no approvals row$`,
        ),
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${id('own-truncate')}: event 3: missing: a head signed at .* the database ends at event 1$`,
        ),
      ),
    );
    // The service-role edits are still there; nothing untouched is accused.
    expect(lines.filter((l) => !l.startsWith('10 approval'))).toHaveLength(8);
    expect(lines.join('\n')).not.toContain('untouched');
    expect(lines.at(-1)).toMatch(/: 8 disagreement\(s\) above$/);
  });

  it('is the pnpm verify-audit command: named approvals, exit 1; exit 2 without arguments or its key', async () => {
    const usage = await runScript('scripts/verify-audit.ts', verifyEnv, 60_000);
    expect(usage.code).toBe(2);
    expect(usage.lines).toEqual(['usage: pnpm verify-audit [--all | <action_id>...]']);
    const named = await verify([id('untouched-decided'), id('own-edit')]);
    expect(named.code).toBe(1);
    expect(named.lines).toEqual([
      `${id('own-edit')}: event 2: hash does not match the content`,
      expect.stringMatching(
        /^2 approval\(s\) checked against \d+ signed head message\(s\): 1 disagreement\(s\) above$/,
      ),
    ]);
    const { AUDIT_KEY: _, ...withoutKey } = verifyEnv;
    const lines: string[] = [];
    expect(await runVerifyAudit(['--all'], withoutKey, (line) => lines.push(line))).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/AUDIT_KEY: required/)]);
  });
});
