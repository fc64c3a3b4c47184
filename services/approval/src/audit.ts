import type { AuditEvent } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import type { AuditKey, AuditKeys } from './audit-key.js';
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

/** An event's content as the chain covers it. */
export type AuditContent = Omit<AuditEvent, 'prev_hash' | 'hash'>;

/**
 * An audit event with the id of the key that chained it: null for an event written before the
 * chain was keyed (plain sha256, see {@link plainAuditHash}); absent where it is not known (the
 * contract's history does not carry it).
 */
export type ChainEvent = AuditEvent & { key_id?: string | null };

/** The last event of an approval's chain: what a signed head publishes. */
export interface AuditHead {
  action_id: string;
  seq: number;
  hash: string;
}

/** The text a link hashes: the previous hash and the canonical JSON of the event's content. */
function linkText(prevHash: string, actionId: string, event: AuditContent): string {
  return (
    prevHash +
    canonicalJson({
      action_id: actionId,
      seq: event.seq,
      event: event.event,
      actor: event.actor,
      reason: event.reason,
      data: event.data,
      at: event.at,
    })
  );
}

/**
 * The keyed link every new event gets: HMAC-SHA256 under the audit-chain key over the previous
 * hash and the canonical JSON of the event's content. Without the key nobody can compute it, so
 * an event inserted or edited by a database writer does not verify.
 */
export function keyedAuditHash(
  key: AuditKey,
  prevHash: string,
  actionId: string,
  event: AuditContent,
): string {
  return key.mac(linkText(prevHash, actionId, event));
}

/**
 * The link of events written before the chain was keyed (key_id null): plain sha256 over the
 * same text. Anyone can recompute it, and so can anyone forge it: only those old rows may use it
 * (the table refuses new rows without a key id).
 */
export function plainAuditHash(prevHash: string, actionId: string, event: AuditContent): string {
  return sha256Hex(linkText(prevHash, actionId, event));
}

/** What an audited transaction carries: the key its events are chained with, the heads it wrote. */
export interface AuditTransaction {
  key: AuditKey;
  /** The last event each chain got in this transaction, published once it commits. */
  heads: Map<string, AuditHead>;
  /**
   * Each chain's last event as this transaction knows it: read under the approval's row lock
   * ({@link knowHead}) or written by this transaction. Events are chained onto these without
   * reading the head again (one statement fewer per change); the (action_id, seq) primary key
   * still refuses a fork.
   */
  known: Map<string, { seq: number; hash: string }>;
}

/**
 * The open audited transactions, by their client (see lifecycle/audited-transaction.ts): every
 * function that writes audit events finds its key here rather than through every signature in
 * between, and the heads it wrote are collected for publication after the commit.
 */
const transactions = new WeakMap<pg.ClientBase, AuditTransaction>();

export function beginAudit(client: pg.ClientBase, key: AuditKey): AuditTransaction {
  const tx: AuditTransaction = { key, heads: new Map(), known: new Map() };
  transactions.set(client, tx);
  return tx;
}

export function endAudit(client: pg.ClientBase): void {
  transactions.delete(client);
}

/** The audited transaction `client` is in; a write outside one is a bug (it could not be chained). */
export function auditOf(client: pg.ClientBase): AuditTransaction {
  const tx = transactions.get(client);
  if (!tx) throw new Error('audit events written outside an audited transaction');
  return tx;
}

/** Records rows just written in `client`'s transaction as their chains' new heads. */
export function noteHeads(client: pg.ClientBase, rows: readonly AuditRow[]): void {
  const { heads, known } = auditOf(client);
  for (const row of rows) {
    const head = heads.get(row.action_id);
    if (!head || head.seq < row.seq) {
      heads.set(row.action_id, { action_id: row.action_id, seq: row.seq, hash: row.hash });
      known.set(row.action_id, { seq: row.seq, hash: row.hash });
    }
  }
}

/**
 * Records an approval's chain head as read under its row lock, in the statement that read the
 * row (see {@link AUDIT_HEAD_COLUMN}): the next append chains onto it without reading it again.
 * Only valid while the lock is held, which is what every writer of an approval's events holds.
 */
export function knowHead(
  client: pg.ClientBase,
  actionId: string,
  head: { seq: number; hash: string } | null,
): void {
  if (head) auditOf(client).known.set(actionId, { seq: head.seq, hash: head.hash });
}

/** A select-list column with the approval's (alias `a`) last audit event, for {@link knowHead}. */
export const AUDIT_HEAD_COLUMN = `(select json_build_object('seq', e.seq, 'hash', e.hash)
     from approval.audit_events e where e.action_id = a.action_id order by e.seq desc limit 1) as audit_head`;

/**
 * Appends events to their approvals' chains, in the given order. The caller must hold the
 * approvals' row locks, so no one else extends the same chain meanwhile; the (action_id, seq)
 * primary key refuses a fork regardless. The client must be in an audited transaction, whose
 * key chains them and which publishes the new heads after its commit. (New approvals are written with their first events
 * in one statement instead: see the intake's write in lifecycle/write-batch.ts.)
 */
export async function appendAudit(client: pg.PoolClient, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = await chainOntoHeads(client, entries);
  await query(client, `insert into approval.audit_events ${AUDIT_INSERT_SELECT('$1')}`, [
    JSON.stringify(rows),
  ]);
  noteHeads(client, rows);
}

/**
 * The rows {@link appendAudit} inserts, for a caller that inserts them in a statement of its own
 * (and then calls {@link noteHeads}): chained onto the heads this transaction knows, reading only
 * the others. The same rules as appendAudit: the approvals' row locks are held.
 */
export async function chainOntoHeads(
  client: pg.PoolClient,
  entries: readonly AuditEntry[],
): Promise<AuditRow[]> {
  const tx = auditOf(client);
  const missing = [...new Set(entries.map((e) => e.action_id))].filter((id) => !tx.known.has(id));
  if (missing.length > 0) {
    const found = await query<{ action_id: string; seq: number; hash: string }>(
      client,
      `select distinct on (action_id) action_id, seq, hash
         from approval.audit_events where action_id = any($1::text[])
        order by action_id, seq desc`,
      [missing],
    );
    for (const row of found.rows) tx.known.set(row.action_id, { seq: row.seq, hash: row.hash });
  }
  // A copy: chainAudit advances the heads it is given, and these become known only once written.
  return chainAudit(tx.key, entries, new Map(tx.known));
}

/** An audit_events row, chained: what {@link AUDIT_INSERT_SELECT} inserts. */
export interface AuditRow extends AuditEntry {
  seq: number;
  prev_hash: string;
  hash: string;
  key_id: string;
}

/**
 * Chains entries onto the given heads (an approval without one starts at the genesis hash), in
 * order, with `key`; `heads` is advanced as it goes.
 */
export function chainAudit(
  key: AuditKey,
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
    const hash = keyedAuditHash(key, head.hash, entry.action_id, event);
    heads.set(entry.action_id, { seq: event.seq, hash });
    return { action_id: entry.action_id, ...event, prev_hash: head.hash, hash, key_id: key.id };
  });
}

/** Columns and source of an audit insert from a JSON array of {@link AuditRow} in parameter `param`. */
export const AUDIT_INSERT_SELECT = (param: string) =>
  `(action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id)
   select action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id
     from json_to_recordset(${param}::json) as x(action_id text, seq int, event text, actor text, reason text,
                                               data jsonb, at timestamptz, prev_hash text, hash text, key_id text)`;

interface HistoryRow {
  seq: number;
  event: string;
  actor: string;
  reason: string | null;
  data: Record<string, unknown>;
  at: Date;
  prev_hash: string;
  hash: string;
}

/** An approval's audit events, oldest first, as the contract's records. */
export async function loadHistory(db: pg.Pool | pg.PoolClient, actionId: string): Promise<AuditEvent[]> {
  const result = await query<HistoryRow>(
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
 * hash before it, and each hash equal to the recomputed one, under the key its key_id names (a
 * key that is not configured is a break: nothing can vouch for the event). Events without a key
 * id (null) are the plain sha256 rows from before the chain was keyed: accepted only before the
 * first keyed event. Events whose key id is not known (the contract's history) must verify under
 * one of the keys, or as a plain row before the first keyed one. Any edit, insertion or removal
 * of a row shows up as the first seq where the chain breaks.
 */
export function verifyAuditChain(
  actionId: string,
  history: readonly ChainEvent[],
  keys: AuditKeys,
): ChainVerdict {
  let prev = GENESIS_HASH;
  let keyed = false;
  for (const [index, event] of history.entries()) {
    if (event.seq !== index + 1) return { ok: false, seq: event.seq, problem: `expected seq ${index + 1}` };
    if (event.prev_hash !== prev) return { ok: false, seq: event.seq, problem: 'prev_hash does not link' };
    const { prev_hash: _p, hash, key_id, ...content } = event;
    const candidates = key_id === null ? [] : key_id === undefined ? keys.ids() : [key_id];
    const keyedMatch = candidates.some((id) => {
      const key = keys.byId(id);
      return key !== undefined && keyedAuditHash(key, prev, actionId, content) === hash;
    });
    if (keyedMatch) {
      keyed = true;
    } else if (typeof key_id === 'string') {
      const problem = keys.byId(key_id)
        ? 'hash does not match the content'
        : `chained with key ${key_id}, which is not configured`;
      return { ok: false, seq: event.seq, problem };
    } else if (keyed) {
      // Once keyed, always keyed: a plain row after keyed ones is one anybody could have written.
      const problem =
        key_id === null ? 'an unkeyed event after keyed ones' : 'hash does not match the content';
      return { ok: false, seq: event.seq, problem };
    } else if (plainAuditHash(prev, actionId, content) !== hash) {
      return { ok: false, seq: event.seq, problem: 'hash does not match the content' };
    }
    prev = hash;
  }
  return { ok: true };
}
