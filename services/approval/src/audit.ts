import type { AuditEvent } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { canonicalJson, sha256Hex } from './hash.js';
import { iso } from './records.js';

/** prev_hash of an approval's first audit event. */
export const GENESIS_HASH = '0'.repeat(64);

/** What happened, by whom, and why: one audit event before it is chained. */
export interface AuditEntry {
  action_id: string;
  event: string;
  actor: string;
  reason: string | null;
  data: Record<string, unknown>;
  /** RFC 3339 (see records.iso): hashed as text, so it must round-trip through timestamptz. */
  at: string;
}

/**
 * The chain link: sha256 over the previous hash and the canonical JSON of the event's content.
 * Clients can recompute it from `approval.get`'s history (see {@link verifyAuditChain}).
 */
export function auditHash(
  prevHash: string,
  actionId: string,
  event: Omit<AuditEvent, 'prev_hash' | 'hash'>,
): string {
  const content = canonicalJson({
    action_id: actionId,
    seq: event.seq,
    event: event.event,
    actor: event.actor,
    reason: event.reason,
    data: event.data,
    at: event.at,
  });
  return sha256Hex(prevHash + content);
}

/**
 * Appends events to their approvals' chains, in the given order. The caller must hold the
 * approvals' row locks, so no one else extends the same chain meanwhile; the (action_id, seq)
 * primary key refuses a fork regardless. (New approvals are written with their first events
 * in one statement instead: see the intake's write in lifecycle/write-batch.ts.)
 */
export async function appendAudit(client: pg.PoolClient, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const ids = [...new Set(entries.map((e) => e.action_id))];
  const heads = new Map<string, { seq: number; hash: string }>();
  const found = await query<{ action_id: string; seq: number; hash: string }>(
    client,
    `select distinct on (action_id) action_id, seq, hash
       from approval.audit_events where action_id = any($1::text[])
      order by action_id, seq desc`,
    [ids],
  );
  for (const row of found.rows) heads.set(row.action_id, { seq: row.seq, hash: row.hash });
  await query(client, `insert into approval.audit_events ${AUDIT_INSERT_SELECT('$1')}`, [
    JSON.stringify(chainAudit(entries, heads)),
  ]);
}

/** An audit_events row, chained: what {@link AUDIT_INSERT_SELECT} inserts. */
export interface AuditRow extends AuditEntry {
  seq: number;
  prev_hash: string;
  hash: string;
}

/**
 * Chains entries onto the given heads (an approval without one starts at the genesis hash), in
 * order; `heads` is advanced as it goes.
 */
export function chainAudit(
  entries: readonly AuditEntry[],
  heads: Map<string, { seq: number; hash: string }> = new Map(),
): AuditRow[] {
  return entries.map((entry) => {
    const head = heads.get(entry.action_id) ?? { seq: 0, hash: GENESIS_HASH };
    const event = {
      seq: head.seq + 1,
      event: entry.event,
      actor: entry.actor,
      reason: entry.reason,
      data: entry.data,
      at: entry.at,
    };
    const hash = auditHash(head.hash, entry.action_id, event);
    heads.set(entry.action_id, { seq: event.seq, hash });
    return { action_id: entry.action_id, ...event, prev_hash: head.hash, hash };
  });
}

/** Columns and source of an audit insert from a JSON array of {@link AuditRow} in parameter `param`. */
export const AUDIT_INSERT_SELECT = (param: string) =>
  `(action_id, seq, event, actor, reason, data, at, prev_hash, hash)
   select action_id, seq, event, actor, reason, data, at, prev_hash, hash
     from json_to_recordset(${param}::json) as x(action_id text, seq int, event text, actor text, reason text,
                                               data jsonb, at timestamptz, prev_hash text, hash text)`;

/** An approval's audit events, oldest first, as the contract's records. */
export async function loadHistory(db: pg.Pool | pg.PoolClient, actionId: string): Promise<AuditEvent[]> {
  const result = await query<{
    seq: number;
    event: string;
    actor: string;
    reason: string | null;
    data: Record<string, unknown>;
    at: Date;
    prev_hash: string;
    hash: string;
  }>(
    db,
    `select seq, event, actor, reason, data, at, prev_hash, hash
       from approval.audit_events where action_id = $1 order by seq`,
    [actionId],
  );
  return result.rows.map((r) => ({ ...r, at: iso(r.at) }));
}

export type ChainVerdict = { ok: true } | { ok: false; seq: number; problem: string };

/**
 * Checks an approval's history: sequence numbers 1..n without gaps, each prev_hash equal to the
 * hash before it, and each hash equal to the recomputed one. Any edit, insertion or removal
 * of a row shows up as the first seq where the chain breaks.
 */
export function verifyAuditChain(actionId: string, history: readonly AuditEvent[]): ChainVerdict {
  let prev = GENESIS_HASH;
  for (const [index, event] of history.entries()) {
    if (event.seq !== index + 1) return { ok: false, seq: event.seq, problem: `expected seq ${index + 1}` };
    if (event.prev_hash !== prev) return { ok: false, seq: event.seq, problem: 'prev_hash does not link' };
    const { prev_hash: _p, hash, ...content } = event;
    if (auditHash(prev, actionId, content) !== hash) {
      return { ok: false, seq: event.seq, problem: 'hash does not match the content' };
    }
    prev = hash;
  }
  return { ok: true };
}
