/**
 * `pnpm verify-audit [--all | <action_id>...]`: the operators' full audit check. It reads the
 * approval schema (any role that may select from it: the approval service's, or a read-only
 * one) and the AUDIT_HEADS stream, and holds the audit key, so that it checks what the public
 * check (examples/verify-audit.ts) cannot: each event's HMAC, each approval's status, votes and
 * request_hash against its chain, and each chain against the heads signed (Ed25519, checked
 * against the key set) and published outside PostgreSQL. It prints one line per approval that
 * disagrees, naming the first event (seq) or row, and exits 1; 0 when all agree; 2 on a usage
 * or configuration error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Streams } from '@countersign/contracts';
import { CommonEnv, ConfigError, loadConfig, natsAuthOptions, query, Secret } from '@countersign/runtime';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { z } from 'zod';
import type { ChainEvent } from './audit.js';
import { type HeadsPublicKey, verifyHeads } from './audit-heads.js';
import { AuditKeys } from './audit-key.js';
import {
  type AuditedApproval,
  type AuditedVote,
  type AuditFinding,
  auditApproval,
  describeFinding,
  type PublishedHead,
} from './audit-verify.js';
import { ApprovalVariables } from './config.js';
import { iso } from './records.js';

/** The command's environment: the database, the audit keys, NATS and the public signing keys. */
export const VerifyAuditEnv = z
  .object({
    DATABASE_URL: z
      .string()
      .min(1, 'is required: a role that may read the approval schema')
      .transform((v) => new Secret(v)),
    AUDIT_KEY: ApprovalVariables.shape.AUDIT_KEY,
    AUDIT_KEYS_RETIRED: ApprovalVariables.shape.AUDIT_KEYS_RETIRED,
    /** The key set heads are checked against: the published JWKS saved to a file (public keys suffice). */
    JWKS_FILE: z.string().min(1).optional(),
    /** The service's own key file, read for its public keys when JWKS_FILE is unset. */
    SIGNING_KEYS_FILE: z.string().min(1).optional(),
    NATS_URL: CommonEnv.shape.NATS_URL,
    NATS_USER: CommonEnv.shape.NATS_USER,
    NATS_PASSWORD: CommonEnv.shape.NATS_PASSWORD,
    NATS_CREDS: CommonEnv.shape.NATS_CREDS,
    NATS_AUTH: CommonEnv.shape.NATS_AUTH,
  })
  .superRefine((v, ctx) => {
    if (!v.AUDIT_KEY)
      ctx.addIssue({ code: 'custom', path: ['AUDIT_KEY'], message: 'required: the audit chain key' });
    if (!v.JWKS_FILE && !v.SIGNING_KEYS_FILE)
      ctx.addIssue({
        code: 'custom',
        path: ['JWKS_FILE'],
        message: 'required (or SIGNING_KEYS_FILE): the key set the audit heads are signed with',
      });
  });

/** A JWK Set's keys, public parts only (a private key file works too: `d` is ignored). */
export function publicKeysOf(text: string, source: string): HeadsPublicKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${source}: not JSON (expected a JWK Set)`);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error(`${source}: not a JWK Set (no "keys")`);
  return keys.map((k: Record<string, unknown>) => ({
    kty: String(k.kty),
    crv: typeof k.crv === 'string' ? k.crv : undefined,
    x: typeof k.x === 'string' ? k.x : undefined,
    kid: typeof k.kid === 'string' ? k.kid : undefined,
  }));
}

export interface HeadsRead {
  /** Every verified head, by approval. */
  heads: Map<string, PublishedHead[]>;
  /** Messages that are not validly signed heads: each is a finding of its own. */
  bad: { seq: number; problem: string }[];
  messages: number;
}

/**
 * Reads the whole AUDIT_HEADS stream (an ordered consumer: no state left on the server) and
 * keeps the heads of every message whose signature verifies.
 */
export async function readHeads(
  nc: import('@nats-io/nats-core').NatsConnection,
  keys: readonly HeadsPublicKey[],
): Promise<HeadsRead> {
  const result: HeadsRead = { heads: new Map(), bad: [], messages: 0 };
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(Streams.auditHeads);
  const last = info.state.last_seq;
  if (info.state.messages === 0) return result;
  const consumer = await jetstream(nc).consumers.get(Streams.auditHeads, {
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume();
  for await (const m of messages) {
    result.messages++;
    const verdict = verifyHeads(m.string(), keys);
    if (!verdict.ok) {
      result.bad.push({ seq: m.seq, problem: verdict.problem });
    } else {
      for (const head of verdict.payload.heads) {
        const list = result.heads.get(head.action_id) ?? [];
        list.push({ seq: head.seq, hash: head.hash, published_at: verdict.payload.published_at });
        result.heads.set(head.action_id, list);
      }
    }
    if (m.seq >= last) break;
  }
  await messages.close();
  return result;
}

/** Reads the rows of these approvals and checks each; the findings, in action_id order. */
export async function auditApprovals(
  db: pg.Pool,
  ids: readonly string[],
  heads: ReadonlyMap<string, PublishedHead[]>,
  keys: AuditKeys,
): Promise<AuditFinding[]> {
  const findings: AuditFinding[] = [];
  const sorted = [...new Set(ids)].sort();
  for (let i = 0; i < sorted.length; i += 500) {
    const page = sorted.slice(i, i + 500);
    const approvals = await query<AuditedApproval>(
      db,
      'select action_id, status, request_hash, decided_by from approval.approvals where action_id = any($1::text[])',
      [page],
    );
    const votes = await query<AuditedVote & { action_id: string }>(
      db,
      'select action_id, voter, approved from approval.votes where action_id = any($1::text[])',
      [page],
    );
    const events = await query<Omit<ChainEvent, 'at'> & { action_id: string; at: Date }>(
      db,
      `select action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id
         from approval.audit_events where action_id = any($1::text[]) order by action_id, seq`,
      [page],
    );
    const rowOf = new Map(approvals.rows.map((r) => [r.action_id, r]));
    const votesOf = group(votes.rows);
    const eventsOf = group(events.rows);
    for (const actionId of page) {
      const found = auditApproval(
        {
          action_id: actionId,
          approval: rowOf.get(actionId),
          votes: votesOf.get(actionId) ?? [],
          events: (eventsOf.get(actionId) ?? []).map(({ action_id: _, ...e }) => ({ ...e, at: iso(e.at) })),
          heads: heads.get(actionId) ?? [],
        },
        keys,
      );
      if (found) findings.push(found);
    }
  }
  return findings;
}

function group<T extends { action_id: string }>(rows: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) map.set(row.action_id, [...(map.get(row.action_id) ?? []), row]);
  return map;
}

/** Runs the command; resolves to its exit code. Output goes to `out` (stdout by default). */
export async function runVerifyAudit(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: [...argv],
      options: { all: { type: 'boolean', default: false } },
      allowPositionals: true,
    });
  }
  try {
    args = parse();
  } catch (err) {
    out(`usage: pnpm verify-audit [--all | <action_id>...]: ${(err as Error).message}`);
    return 2;
  }
  if (!args.values.all && args.positionals.length === 0) {
    out('usage: pnpm verify-audit [--all | <action_id>...]');
    return 2;
  }
  let settings: z.output<typeof VerifyAuditEnv>;
  let publicKeys: HeadsPublicKey[];
  let auth: ReturnType<typeof natsAuthOptions>;
  try {
    settings = loadConfig(VerifyAuditEnv, env);
    const file = (settings.JWKS_FILE ?? settings.SIGNING_KEYS_FILE) as string;
    publicKeys = publicKeysOf(
      readFileSync(file, 'utf8'),
      settings.JWKS_FILE ? 'JWKS_FILE' : 'SIGNING_KEYS_FILE',
    );
    auth = natsAuthOptions({
      user: settings.NATS_USER,
      password: settings.NATS_PASSWORD,
      credsFile: settings.NATS_CREDS,
      auth: settings.NATS_AUTH,
    });
    if (!auth.ok) throw new ConfigError(auth.issues);
  } catch (err) {
    out(`configuration: ${(err as Error).message}`);
    return 2;
  }
  const keys = AuditKeys.from(settings.AUDIT_KEY as Secret, settings.AUDIT_KEYS_RETIRED);
  const db = new pg.Pool({ connectionString: settings.DATABASE_URL.reveal(), max: 2 });
  db.on('error', () => {});
  const nc = await connect({
    servers: settings.NATS_URL.split(','),
    name: 'countersign-verify-audit',
    ...auth.options,
  });
  try {
    const heads = await readHeads(nc, publicKeys);
    let ids: string[];
    if (args.values.all) {
      const rows = await query<{ action_id: string }>(db, 'select action_id from approval.approvals', []);
      // Approvals the heads know and the database does not: deleted ones.
      ids = [...rows.rows.map((r) => r.action_id), ...heads.heads.keys()];
    } else {
      ids = args.positionals;
    }
    const findings = await auditApprovals(db, ids, heads.heads, keys);
    for (const bad of heads.bad) out(`${Streams.auditHeads} message ${bad.seq}: ${bad.problem}`);
    for (const finding of findings) out(describeFinding(finding));
    const checked = new Set(ids).size;
    const broken = findings.length + heads.bad.length;
    out(
      `${checked} approval(s) checked against ${heads.messages} signed head message(s): ${
        broken === 0 ? 'every record agrees' : `${broken} disagreement(s) above`
      }`,
    );
    return broken === 0 ? 0 : 1;
  } finally {
    await nc.drain().catch(() => {});
    await db.end().catch(() => {});
  }
}
