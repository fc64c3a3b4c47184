/**
 * The write transaction of a submission batch: new approvals with their first audit events and
 * outbox rows in one statement, races with other writers resolved as duplicates or conflicts,
 * conflicts audited, and a batch the database refuses split so one bad item cannot hold back
 * the others.
 */
import type { PolicyDecision } from '@countersign/contracts';
import { databaseError, isDataError, query, traceCarrier, withContext } from '@countersign/runtime';
import type pg from 'pg';
import {
  AUDIT_INSERT_SELECT,
  type AuditEntry,
  appendAudit,
  auditOf,
  chainAudit,
  noteHeads,
} from '../audit.js';
import { iso } from '../records.js';
import { auditedTransaction } from './audited-transaction.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { invalidFields } from './invalid.js';
import { decideNew } from './new-approval.js';
import { eventFor, OUTBOX_INSERT_SELECT } from './outbox-rows.js';
import type { Prepared, SubmitItem, SubmitOutcome } from './submission.js';

/**
 * The write transaction of `submitMany` (submit.ts). When the database refuses the batch's data, each
 * item is written on its own so one bad item cannot hold the others back; the bad one comes
 * back as a `poison` retry. Any other failure leaves the whole batch to be retried.
 */
export async function writeSubmissions(
  deps: LifecycleDeps,
  toWrite: readonly { p: Prepared; decision?: PolicyDecision }[],
  conflicts: readonly Prepared[],
): Promise<Map<number, SubmitOutcome>> {
  const results = new Map<number, SubmitOutcome>();
  if (toWrite.length === 0 && conflicts.length === 0) return results;
  try {
    // Traced in the trace of the batch's first item (a batch serves several traces; one holds it).
    const first = toWrite[0]?.p.trace ?? conflicts[0]?.trace;
    return await withContext(first, () =>
      auditedTransaction(
        deps,
        (client) => writeBatch(deps, client, toWrite, conflicts),
        'approval submission write',
      ),
    );
  } catch (err) {
    const error = databaseError(err);
    const all = [...toWrite.map((w) => w.p), ...conflicts];
    if (!isDataError(err)) {
      for (const p of all) results.set(p.index, { kind: 'retry', error });
      return results;
    }
    if (all.length === 1) {
      deps.logger.error(
        { err: error.cause, action_id: all[0]?.action_id },
        'the database refused a submission',
      );
      for (const p of all) results.set(p.index, { kind: 'retry', error, poison: true });
      return results;
    }
    // One bad item must not hold the others back: write each on its own.
    deps.logger.warn({ err: error.cause, size: all.length }, 'batch write refused: writing items one by one');
    for (const w of toWrite) for (const [i, o] of await writeSubmissions(deps, [w], [])) results.set(i, o);
    for (const c of conflicts) for (const [i, o] of await writeSubmissions(deps, [], [c])) results.set(i, o);
    return results;
  }
}

async function writeBatch(
  deps: LifecycleDeps,
  client: pg.PoolClient,
  toWrite: readonly { p: Prepared; decision?: PolicyDecision }[],
  conflicts: readonly Prepared[],
): Promise<Map<number, SubmitOutcome>> {
  const results = new Map<number, SubmitOutcome>();
  const now = await transactionNow(client);
  // Sorted, so two transactions inserting overlapping batches take index locks in one order.
  const decided = toWrite
    .map((w) => decideNew(deps, w.p, w.decision, now))
    .sort((a, b) => (a.prepared.action_id < b.prepared.action_id ? -1 : 1));

  const inserted = new Set<string>();
  if (decided.length > 0) {
    // The approvals, their first audit events and their events in one statement (one round
    // trip). An approval another transaction inserted first is skipped (on conflict), and its
    // audit and outbox rows with it; new approvals' chains start at the genesis hash.
    // Each approval keeps the trace it was requested in: its decision is published in it.
    const traces = decided.map((d) => (d.prepared.trace ? traceCarrier(d.prepared.trace) : undefined));
    const approvals = decided.map((d, i) => ({
      ...d.approval,
      request_hash: d.prepared.request_hash,
      // What the policy evaluated, kept for a replay; none for a request refused unevaluated.
      policy_input: d.prepared.item.kind === 'request' ? d.prepared.item.request : null,
      votes: undefined,
      trace_context: traces[i],
    }));
    const audit = chainAudit(
      auditOf(client).key,
      decided.flatMap((d) =>
        d.audit.map((a) => ({ ...a, action_id: d.approval.action_id, at: d.approval.created_at })),
      ),
    );
    const result = await query<{ action_id: string }>(
      client,
      `with inserted as (
         insert into approval.approvals (action_id, action_type, description, context, requested_by, run_id,
            request_hash, status, policy, required_approvals, created_at, expires_at, decided_at, decided_by,
            decision_reason, trace_context, receipt, policy_input)
         select action_id, action_type, description, context, requested_by, run_id, request_hash, status, policy,
                required_approvals, created_at, expires_at, decided_at, decided_by, decision_reason, trace_context,
                receipt, policy_input
           from json_to_recordset($1::json) as x(action_id text, action_type text, description text,
                context jsonb, requested_by text, run_id text, request_hash text, status text, policy jsonb,
                required_approvals int, created_at timestamptz, expires_at timestamptz, decided_at timestamptz,
                decided_by text, decision_reason text, trace_context json, receipt text, policy_input jsonb)
         on conflict (action_id) do nothing
         returning action_id
       ), audit as (
         insert into approval.audit_events ${AUDIT_INSERT_SELECT('$2')}
          where x.action_id in (select action_id from inserted)
       ), events as (
         insert into approval.outbox ${OUTBOX_INSERT_SELECT('$3')}
          where x.action_id in (select action_id from inserted)
       )
       select action_id from inserted`,
      [
        JSON.stringify(approvals),
        JSON.stringify(audit),
        JSON.stringify(decided.map((d, i) => eventFor(d.approval, traces[i]))),
      ],
      // Named: prepared once per connection. Planning this statement cost PostgreSQL about as
      // much as running it when batches are small. (Statements with an array parameter stay
      // unnamed: their plans depend on the array's size.)
      'approval-intake-write',
    );
    for (const row of result.rows) inserted.add(row.action_id);
    noteHeads(
      client,
      audit.filter((row) => inserted.has(row.action_id)),
    );
  }

  // Lost a race with another replica or a concurrent submit: compare with what it recorded.
  const raced = decided.filter((d) => !inserted.has(d.prepared.action_id));
  const lateConflicts: Prepared[] = [];
  if (raced.length > 0) {
    const rows = await query<{ action_id: string; request_hash: string }>(
      client,
      'select action_id, request_hash from approval.approvals where action_id = any($1::text[])',
      [raced.map((d) => d.prepared.action_id)],
    );
    const hashes = new Map(rows.rows.map((r) => [r.action_id, r.request_hash]));
    for (const d of raced) {
      if (hashes.get(d.prepared.action_id) === d.prepared.request_hash) {
        results.set(d.prepared.index, { kind: 'duplicate', action_id: d.prepared.action_id });
      } else {
        lateConflicts.push(d.prepared);
      }
    }
  }

  for (const d of decided) {
    if (inserted.has(d.prepared.action_id)) {
      results.set(d.prepared.index, { kind: 'created', approval: d.approval });
    }
  }

  const audit: AuditEntry[] = [];

  const allConflicts = [...conflicts, ...lateConflicts].sort((a, b) => (a.action_id < b.action_id ? -1 : 1));
  if (allConflicts.length > 0) {
    // The audit chain of an existing approval is extended under its row lock.
    await query(
      client,
      'select 1 from approval.approvals where action_id = any($1::text[]) order by action_id for update',
      [allConflicts.map((c) => c.action_id)],
    );
    for (const c of allConflicts) {
      audit.push({
        action_id: c.action_id,
        event: 'idempotency_conflict',
        actor: submitter(c.item),
        reason: 'the same action_id was submitted again with different content; the new content was refused',
        data: { request_hash: c.request_hash },
        at: iso(now),
      });
      results.set(c.index, { kind: 'conflict', action_id: c.action_id });
    }
  }
  await appendAudit(client, audit);
  return results;
}

function submitter(item: SubmitItem): string {
  if (item.kind === 'request') return item.request.requested_by;
  return invalidFields(item.raw).requested_by;
}
