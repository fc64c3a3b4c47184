/**
 * Submit: the one path for the intake stream (a batch) and `approval.submit` (one request,
 * answered at once). Deduplicates by action_id, asks the policy about new requests, and hands
 * the batch to its write transaction.
 */
import {
  type Approval,
  type ApprovalRequest,
  CountersignError,
  type PolicyDecision,
} from '@countersign/contracts';
import {
  activeTraceContext,
  databaseError,
  query,
  type TraceContext,
  withContext,
} from '@countersign/runtime';
import { findApproval, notFound } from '../queries.js';
import { toApproval } from '../records.js';
import type { LifecycleDeps } from './deps.js';
import { admissionRefusal } from './identities.js';
import { invalidHash } from './invalid.js';
import { containsUnstorable, unstorableError } from './storable.js';
import { type Prepared, requestHash, type SubmitItem, type SubmitOutcome } from './submission.js';
import { writeSubmissions } from './write-batch.js';

/**
 * Records a batch of submissions: asks the policy about the new ones (all at once), then writes
 * every approval, audit event and outbox event of the batch in ONE transaction. Never approves
 * what the policy did not evaluate: a policy or database failure leaves the item unwritten with
 * outcome `retry`. Outcomes are returned in the order of `items`.
 */
export async function submitMany(
  deps: LifecycleDeps,
  items: readonly SubmitItem[],
  /** Per item, the trace it was requested in (its intake message's); default the active one. */
  traces?: readonly (TraceContext | undefined)[],
): Promise<SubmitOutcome[]> {
  const active = activeTraceContext();
  const outcomes: (SubmitOutcome | undefined)[] = new Array(items.length);
  const first = new Map<string, Prepared>();
  for (const [index, raw] of items.entries()) {
    const item: SubmitItem =
      raw.kind === 'request' && containsUnstorable(raw.request)
        ? { kind: 'invalid', action_id: raw.request.action_id, raw: raw.request, error: unstorableError() }
        : raw;
    const action_id = item.kind === 'request' ? item.request.action_id : item.action_id;
    if (first.has(action_id)) {
      outcomes[index] = { kind: 'deferred', action_id };
      continue;
    }
    const request_hash = item.kind === 'request' ? requestHash(item.request) : invalidHash(item.raw);
    const trace = traces?.[index] ?? active;
    first.set(action_id, { index, action_id, request_hash, item, ...(trace ? { trace } : {}) });
  }
  const prepared = [...first.values()];

  // Already recorded? Re-deliveries and re-submissions stop here, without asking the policy.
  let existing: Map<string, string>;
  try {
    const rows = await query<{ action_id: string; request_hash: string }>(
      deps.pool,
      'select action_id, request_hash from approval.approvals where action_id = any($1::text[])',
      [prepared.map((p) => p.action_id)],
    );
    existing = new Map(rows.rows.map((r) => [r.action_id, r.request_hash]));
  } catch (err) {
    const error = databaseError(err);
    for (const p of prepared) outcomes[p.index] = { kind: 'retry', error };
    return outcomes as SubmitOutcome[];
  }
  const fresh: Prepared[] = [];
  const conflicts: Prepared[] = [];
  for (const p of prepared) {
    const hash = existing.get(p.action_id);
    if (hash === undefined) fresh.push(p);
    else if (hash === p.request_hash) outcomes[p.index] = { kind: 'duplicate', action_id: p.action_id };
    else conflicts.push(p);
  }

  // Pipelined: every evaluate request is in flight at once on the one connection.
  const evaluated = await Promise.all(
    fresh.map(async (p): Promise<{ p: Prepared; decision?: PolicyDecision; error?: CountersignError }> => {
      if (p.item.kind === 'invalid') return { p };
      try {
        // In the item's trace: the policy service's spans join the request's.
        const request = p.item.request;
        return { p, decision: await withContext(p.trace, () => deps.policy.evaluate(request)) };
      } catch (err) {
        return { p, error: err instanceof CountersignError ? err : databaseError(err) };
      }
    }),
  );
  const toWrite: { p: Prepared; decision?: PolicyDecision }[] = [];
  for (const e of evaluated) {
    if (e.error && (e.error.code === 'unavailable' || e.error.code === 'internal')) {
      // Fail closed: without the policy's answer nothing is written; the caller retries later.
      outcomes[e.p.index] = { kind: 'retry', error: e.error };
    } else if (e.error) {
      // The policy refused the input itself: decide it as invalid so no waiter hangs.
      const item = e.p.item as Extract<SubmitItem, { kind: 'request' }>;
      toWrite.push({
        p: {
          ...e.p,
          item: { kind: 'invalid', action_id: e.p.action_id, raw: item.request, error: e.error },
        },
      });
    } else {
      toWrite.push(e.decision ? { p: e.p, decision: e.decision } : { p: e.p });
    }
  }

  for (const [index, outcome] of (await writeSubmissions(deps, toWrite, conflicts)).entries()) {
    outcomes[index] = outcome;
  }
  return outcomes as SubmitOutcome[];
}

/**
 * Submits one request synchronously: the same path as the intake stream, answered at once. A
 * requester the directory does not allow this request is refused before anything is recorded.
 */
export async function submit(deps: LifecycleDeps, request: ApprovalRequest): Promise<Approval> {
  const refused = admissionRefusal(deps, request);
  if (refused) throw refused;
  const [outcome] = await submitMany(deps, [{ kind: 'request', request }]);
  switch (outcome?.kind) {
    case 'created':
      return outcome.approval;
    case 'duplicate': {
      const row = await findApproval(deps.pool, request.action_id);
      if (!row) throw notFound(request.action_id);
      return toApproval(row);
    }
    case 'conflict': {
      // Another requester's id is not theirs to reuse: say so rather than compare contents.
      const row = await findApproval(deps.pool, request.action_id);
      if (row && row.requested_by !== request.requested_by) throw actionIdTaken(request.action_id);
      throw idempotencyConflict(request.action_id);
    }
    case 'retry':
      throw outcome.error;
    default:
      throw new CountersignError('internal', 'submission produced no outcome');
  }
}

/**
 * The action_id is held by another requester. Nothing new is recorded (recording the attempt
 * as an approval would itself squat the id); the holder's approval gets the audited conflict.
 */
export function actionIdTaken(actionId: string): CountersignError {
  return new CountersignError('forbidden', `action_id ${actionId} is held by another requester`, {
    action_id: actionId,
    reasons: [{ code: 'action_id_taken', message: 'another requester filed this action_id first' }],
  });
}

export function idempotencyConflict(actionId: string): CountersignError {
  return new CountersignError(
    'idempotency_conflict',
    `action_id ${actionId} was already submitted with different content`,
    { action_id: actionId },
  );
}
