/**
 * The approval lifecycle: the one code path for submit (intake stream and `approval.submit`),
 * decide, cancel, report and expire. Business rules and SQL live here; transports (NATS
 * endpoints, the intake consumer, later HTTP) only translate. Every state change writes its
 * audit events and its outbox event in the same transaction as the change itself.
 */
import {
  type Approval,
  ApprovalRequest,
  type ApprovalStatus,
  CountersignError,
  type PolicyDecision,
  Subjects,
} from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import { databaseError, isDataError, query, withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import { AUDIT_INSERT_SELECT, type AuditEntry, appendAudit, chainAudit } from './audit.js';
import { canonicalJson, sha256Hex } from './hash.js';
import type { PolicyClient } from './policy.js';
import { findApproval, notFound } from './queries.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval } from './records.js';

export interface LifecycleDeps {
  pool: pg.Pool;
  policy: PolicyClient;
  logger: Logger;
}

/** Identities the service decides as, recorded in decided_by and the audit trail. */
export const Actors = {
  /** auto_approve / deny outcomes of the policy. */
  policy: 'policy',
  /** Countersign itself: invalid requests, expiry. */
  countersign: 'countersign',
  /** Default canceller when none is named. */
  system: 'system',
} as const;

type TerminalStatus = Exclude<ApprovalStatus, 'pending'>;

// ---- submit ----------------------------------------------------------------------------------

/** Something to record: a valid request, or an addressable one that failed validation. */
export type SubmitItem =
  | { kind: 'request'; request: ApprovalRequest }
  | { kind: 'invalid'; action_id: string; raw: unknown; error: CountersignError };

export type SubmitOutcome =
  /** Recorded now, with its events. */
  | { kind: 'created'; approval: Approval }
  /** The same content was recorded before: nothing new was written. */
  | { kind: 'duplicate'; action_id: string }
  /** Recorded before with different content: the attempt is audited, nothing else changes. */
  | { kind: 'conflict'; action_id: string }
  /**
   * Nothing was written; try again later. `poison`: the database refused this item's data on its
   * own, so retrying is unlikely to help (the intake dead-letters it after a few attempts).
   */
  | { kind: 'retry'; error: CountersignError; poison?: boolean }
  /** The same action_id appears earlier in this batch: try again once that one is recorded. */
  | { kind: 'deferred'; action_id: string };

interface Prepared {
  index: number;
  action_id: string;
  request_hash: string;
  item: SubmitItem;
}

interface Decided {
  prepared: Prepared;
  approval: Approval;
  audit: Omit<AuditEntry, 'at' | 'action_id'>[];
}

/** sha256 of the canonical JSON of the parsed request (defaults applied): the idempotency key's content. */
export function requestHash(request: ApprovalRequest): string {
  return sha256Hex(canonicalJson(request));
}

function invalidHash(raw: unknown): string {
  return sha256Hex(`invalid:${canonicalJson(raw)}`);
}

/**
 * Postgres text and jsonb cannot hold U+0000, and jsonb refuses an unpaired UTF-16 surrogate
 * (JSON's "\ud800"), both of which JSON allows. Refusing them at the edge keeps a storage error
 * from turning a message into poison that is retried and then dead-lettered, its waiter never
 * answered.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for.
const UNSTORABLE = /\u0000|\p{Cs}/u;

export function containsUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (Array.isArray(value)) return value.some(containsUnstorable);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => UNSTORABLE.test(k) || containsUnstorable(v));
  }
  return false;
}

/** The value with U+0000 removed and unpaired surrogates replaced (U+FFFD): what an invalid request's record may keep. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '').replace(/\p{Cs}/gu, '\ufffd') as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  }
  return value;
}

function unstorableError(): CountersignError {
  return new CountersignError(
    'invalid_request',
    'invalid request: strings must not contain NUL characters or unpaired surrogates',
    { fields: [{ path: '(root)', message: 'must not contain NUL (\\u0000) or unpaired UTF-16 surrogates' }] },
  );
}

/**
 * Records a batch of submissions: asks the policy about the new ones (all at once), then writes
 * every approval, audit event and outbox event of the batch in ONE transaction. Never approves
 * what the policy did not evaluate: a policy or database failure leaves the item unwritten with
 * outcome `retry`. Outcomes are returned in the order of `items`.
 */
export async function submitMany(
  deps: LifecycleDeps,
  items: readonly SubmitItem[],
): Promise<SubmitOutcome[]> {
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
    first.set(action_id, { index, action_id, request_hash, item });
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
        return { p, decision: await deps.policy.evaluate(p.item.request) };
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
 * The write transaction of {@link submitMany}. When the database refuses the batch's data, each
 * item is written on its own so one bad item cannot hold the others back; the bad one comes
 * back as a `poison` retry. Any other failure leaves the whole batch to be retried.
 */
async function writeSubmissions(
  deps: LifecycleDeps,
  toWrite: readonly { p: Prepared; decision?: PolicyDecision }[],
  conflicts: readonly Prepared[],
): Promise<Map<number, SubmitOutcome>> {
  const results = new Map<number, SubmitOutcome>();
  if (toWrite.length === 0 && conflicts.length === 0) return results;
  try {
    return await withTransaction(deps.pool, (client) => writeBatch(client, toWrite, conflicts));
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
  client: pg.PoolClient,
  toWrite: readonly { p: Prepared; decision?: PolicyDecision }[],
  conflicts: readonly Prepared[],
): Promise<Map<number, SubmitOutcome>> {
  const results = new Map<number, SubmitOutcome>();
  const now = await transactionNow(client);
  // Sorted, so two transactions inserting overlapping batches take index locks in one order.
  const decided = toWrite
    .map((w) => decideNew(w.p, w.decision, now))
    .sort((a, b) => (a.prepared.action_id < b.prepared.action_id ? -1 : 1));

  const inserted = new Set<string>();
  if (decided.length > 0) {
    // The approvals, their first audit events and their events in one statement (one round
    // trip). An approval another transaction inserted first is skipped (on conflict), and its
    // audit and outbox rows with it; new approvals' chains start at the genesis hash.
    const approvals = decided.map((d) => ({
      ...d.approval,
      request_hash: d.prepared.request_hash,
      votes: undefined,
    }));
    const audit = chainAudit(
      decided.flatMap((d) =>
        d.audit.map((a) => ({ ...a, action_id: d.approval.action_id, at: d.approval.created_at })),
      ),
    );
    const result = await query<{ action_id: string }>(
      client,
      `with inserted as (
         insert into approval.approvals (action_id, action_type, description, context, requested_by, run_id,
            request_hash, status, policy, required_approvals, created_at, expires_at, decided_at, decided_by,
            decision_reason)
         select action_id, action_type, description, context, requested_by, run_id, request_hash, status, policy,
                required_approvals, created_at, expires_at, decided_at, decided_by, decision_reason
           from json_to_recordset($1::json) as x(action_id text, action_type text, description text,
                context jsonb, requested_by text, run_id text, request_hash text, status text, policy jsonb,
                required_approvals int, created_at timestamptz, expires_at timestamptz, decided_at timestamptz,
                decided_by text, decision_reason text)
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
        JSON.stringify(decided.map((d) => eventFor(d.approval))),
      ],
      // Named: prepared once per connection. Planning this statement cost PostgreSQL about as
      // much as running it when batches are small. (Statements with an array parameter stay
      // unnamed: their plans depend on the array's size.)
      'approval-intake-write',
    );
    for (const row of result.rows) inserted.add(row.action_id);
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

/** The record a new submission gets: decided at once unless the policy asks for people. */
function decideNew(prepared: Prepared, decision: PolicyDecision | undefined, now: Date): Decided {
  const { item } = prepared;
  if (item.kind === 'invalid' || !decision) {
    const refusal =
      item.kind === 'invalid'
        ? item.error
        : new CountersignError('internal', 'no policy decision for the request');
    // Validation messages name the offending keys, which may themselves hold a NUL or a lone surrogate.
    const error = new CountersignError(refusal.code, storable(refusal.message), storable(refusal.details));
    const fields = invalidFields(item.kind === 'invalid' ? item.raw : item.request);
    const policy = invalidRequestDecision(error);
    const approval: Approval = {
      action_id: prepared.action_id,
      ...fields,
      status: 'rejected',
      created_at: iso(now),
      expires_at: iso(now),
      decided_at: iso(now),
      decided_by: Actors.countersign,
      decision_reason: error.message,
      policy,
      votes: [],
      required_approvals: policy.required_approvals,
    };
    return {
      prepared,
      approval,
      audit: [
        {
          event: 'requested',
          actor: fields.requested_by,
          reason: null,
          data: { request_hash: prepared.request_hash, valid: false },
        },
        {
          event: 'rejected',
          actor: Actors.countersign,
          reason: error.message,
          data: { code: error.code, ...(error.details ? { details: error.details } : {}) },
        },
      ],
    };
  }
  const { request } = item;
  const status: ApprovalStatus =
    decision.outcome === 'auto_approve' ? 'approved' : decision.outcome === 'deny' ? 'rejected' : 'pending';
  const terminal = status !== 'pending';
  const reason = terminal ? policyReason(decision) : null;
  const approval: Approval = {
    action_id: request.action_id,
    action_type: request.action_type,
    description: request.description,
    context: request.context,
    requested_by: request.requested_by,
    run_id: request.run_id ?? null,
    status,
    created_at: iso(now),
    expires_at: iso(new Date(now.getTime() + decision.timeout_seconds * 1000)),
    decided_at: terminal ? iso(now) : null,
    decided_by: terminal ? Actors.policy : null,
    decision_reason: reason,
    policy: decision,
    votes: [],
    required_approvals: decision.required_approvals,
  };
  const audit: Decided['audit'] = [
    {
      event: 'requested',
      actor: request.requested_by,
      reason: null,
      data: {
        request_hash: prepared.request_hash,
        outcome: decision.outcome,
        risk: decision.risk,
        required_approvals: decision.required_approvals,
        approver_roles: decision.approver_roles,
        revision: decision.revision,
        decision_id: decision.decision_id,
      },
    },
  ];
  if (terminal) {
    audit.push({ event: status, actor: Actors.policy, reason, data: { decision_id: decision.decision_id } });
  }
  return { prepared, approval, audit };
}

function policyReason(decision: PolicyDecision): string {
  if (decision.reasons.length > 0) return decision.reasons.map((r) => r.message || r.code).join('; ');
  return decision.outcome === 'auto_approve' ? 'no policy rule requires approval' : 'denied by policy';
}

/** The PolicyDecision recorded for a request that never reached the policy. */
export function invalidRequestDecision(error: CountersignError): PolicyDecision {
  return {
    outcome: 'deny',
    reasons: [{ code: 'invalid_request', message: error.message }],
    risk: 'low',
    required_approvals: 1,
    approver_roles: [],
    timeout_seconds: 1,
    notify: [],
    revision: 'none',
    decision_id: 'none',
  };
}

/**
 * What can be kept of an invalid request for its record: each field as sent when it is valid on
 * its own, a placeholder otherwise. The context is dropped (it may be what made it invalid).
 */
function invalidFields(
  raw: unknown,
): Pick<Approval, 'action_type' | 'description' | 'context' | 'requested_by' | 'run_id'> {
  const obj = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const shape = ApprovalRequest.shape;
  const pick = <T>(
    schema: { safeParse(v: unknown): { success: boolean; data?: T } },
    value: unknown,
  ): T | undefined => {
    const parsed = schema.safeParse(value);
    return parsed.success && !containsUnstorable(parsed.data) ? parsed.data : undefined;
  };
  return {
    action_type: pick<string>(shape.action_type, obj.action_type) ?? 'invalid',
    description: pick<string>(shape.description, obj.description) ?? '(invalid request)',
    context: {},
    requested_by: pick<string>(shape.requested_by, obj.requested_by) ?? 'unknown',
    run_id: pick<string>(shape.run_id, obj.run_id) ?? null,
  };
}

/** Submits one request synchronously: the same path as the intake stream, answered at once. */
export async function submit(deps: LifecycleDeps, request: ApprovalRequest): Promise<Approval> {
  const [outcome] = await submitMany(deps, [{ kind: 'request', request }]);
  switch (outcome?.kind) {
    case 'created':
      return outcome.approval;
    case 'duplicate': {
      const row = await findApproval(deps.pool, request.action_id);
      if (!row) throw notFound(request.action_id);
      return toApproval(row);
    }
    case 'conflict':
      throw idempotencyConflict(request.action_id);
    case 'retry':
      throw outcome.error;
    default:
      throw new CountersignError('internal', 'submission produced no outcome');
  }
}

export function idempotencyConflict(actionId: string): CountersignError {
  return new CountersignError(
    'idempotency_conflict',
    `action_id ${actionId} was already submitted with different content`,
    { action_id: actionId },
  );
}

// ---- outbox rows -----------------------------------------------------------------------------

interface OutboxRow {
  action_id: string;
  kind: 'pending' | 'decided';
  subject: string;
  payload: Approval;
}

/** The event a new or changed approval emits: pending while people decide, decided once terminal. */
function eventFor(approval: Approval): OutboxRow {
  const kind = approval.status === 'pending' ? 'pending' : 'decided';
  return {
    action_id: approval.action_id,
    kind,
    subject: kind === 'pending' ? Subjects.pending(approval.action_id) : Subjects.decided(approval.action_id),
    payload: approval,
  };
}

async function insertOutbox(client: pg.PoolClient, rows: readonly OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  await query(client, `insert into approval.outbox ${OUTBOX_INSERT_SELECT('$1')}`, [JSON.stringify(rows)]);
}

/** Columns and source of an outbox insert from a JSON array of {@link OutboxRow} in parameter `param`. */
const OUTBOX_INSERT_SELECT = (param: string) =>
  `(action_id, kind, subject, payload)
   select action_id, kind, subject, payload
     from json_to_recordset(${param}::json) as x(action_id text, kind text, subject text, payload json)`;

async function transactionNow(client: pg.PoolClient): Promise<Date> {
  // Milliseconds, so every timestamp round-trips exactly through JSON, hashes and cursors.
  const result = await query<{ now: Date }>(
    client,
    "select date_trunc('milliseconds', now()) as now",
    [],
    'approval-now',
  );
  const now = result.rows[0]?.now;
  if (!now) throw new CountersignError('internal', 'database returned no time');
  return now;
}

// ---- transitions -----------------------------------------------------------------------------

interface Transition {
  action_id: string;
  status: TerminalStatus;
  decided_by: string;
  reason: string | null;
}

/**
 * Moves locked pending approvals to a terminal status, with their audit events and their one
 * decided event. Callers hold the row locks; the `status = 'pending'` condition and the table's
 * trigger refuse any other change regardless.
 */
async function applyTransitions(
  client: pg.PoolClient,
  transitions: readonly Transition[],
  now: Date,
  extraAudit: readonly AuditEntry[] = [],
): Promise<Approval[]> {
  if (transitions.length === 0) {
    await appendAudit(client, extraAudit);
    return [];
  }
  // Returns the updated records themselves (votes included: this transaction's vote is visible
  // to its later statements), so they need no second read.
  const updated = await query<ApprovalRow>(
    client,
    `update approval.approvals a
        set status = x.status, decided_at = $2::timestamptz, decided_by = x.decided_by, decision_reason = x.reason
       from json_to_recordset($1::json) as x(action_id text, status text, decided_by text, reason text)
      where a.action_id = x.action_id and a.status = 'pending'
      returning ${APPROVAL_COLUMNS}`,
    [JSON.stringify(transitions), iso(now)],
  );
  if (updated.rowCount !== transitions.length) {
    throw new CountersignError('internal', 'a transition found its approval no longer pending');
  }
  const approvals = updated.rows.map(toApproval);
  await appendAudit(client, [
    ...extraAudit,
    ...transitions.map((t) => ({
      action_id: t.action_id,
      event: t.status,
      actor: t.decided_by,
      reason: t.reason,
      data: {},
      at: iso(now),
    })),
  ]);
  await insertOutbox(client, approvals.map(eventFor));
  return approvals;
}

/** Refuses a command on an approval that is no longer pending: who decided, and when. */
export function closedError(
  row: Pick<ApprovalRow, 'action_id' | 'status' | 'decided_by' | 'decided_at' | 'expires_at'>,
): CountersignError {
  const details = {
    action_id: row.action_id,
    status: row.status,
    decided_by: row.decided_by,
    decided_at: row.decided_at ? iso(row.decided_at) : null,
  };
  if (row.status === 'expired') {
    return new CountersignError('expired', `approval ${row.action_id} expired at ${iso(row.expires_at)}`, {
      ...details,
      expires_at: iso(row.expires_at),
    });
  }
  return new CountersignError(
    'already_decided',
    `approval ${row.action_id} was already ${row.status} by ${row.decided_by} at ${details.decided_at}`,
    details,
  );
}

type Locked<T> = { kind: 'done'; value: T } | { kind: 'refused'; error: CountersignError };

/**
 * Runs `fn` on the locked pending approval. A terminal approval is refused; an overdue one is
 * expired first (committed) and then refused as `expired`: the lock makes the check-then-act
 * atomic, so concurrent commands on one approval can never produce two outcomes.
 */
async function onPending<T>(
  deps: LifecycleDeps,
  actionId: string,
  fn: (client: pg.PoolClient, row: ApprovalRow, now: Date) => Promise<T>,
): Promise<T> {
  const result = await withTransaction<Locked<T>>(deps.pool, async (client) => {
    const row = await findApproval(client, actionId, { lock: true });
    if (!row) return { kind: 'refused', error: notFound(actionId) };
    if (row.status !== 'pending') return { kind: 'refused', error: closedError(row) };
    const now = await transactionNow(client);
    if (row.overdue) {
      // Expire it (committed below) and refuse the command: the deadline has passed.
      await applyTransitions(client, [expiryTransition(row.action_id, row.policy.timeout_seconds)], now);
      deps.logger.info({ action_id: actionId }, 'approval expired');
      return {
        kind: 'refused',
        error: closedError({ ...row, status: 'expired', decided_by: Actors.countersign, decided_at: now }),
      };
    }
    return { kind: 'done', value: await fn(client, row, now) };
  });
  if (result.kind === 'refused') throw result.error;
  return result.value;
}

function expiryTransition(actionId: string, timeoutSeconds: number): Transition {
  return {
    action_id: actionId,
    status: 'expired',
    decided_by: Actors.countersign,
    reason: `no decision within ${timeoutSeconds} s`,
  };
}

// ---- decide ----------------------------------------------------------------------------------

export interface DecideInput {
  action_id: string;
  approved: boolean;
  reason?: string | undefined;
  /** Only for resuming a `task_pause`. */
  owner?: string | undefined;
  /**
   * Runs inside the vote's transaction, under the approval's row lock, before the vote is
   * written; a throw rolls the vote back. The review link burns its single-use nonce here, so the
   * nonce is spent if and only if the vote is recorded.
   */
  withinTransaction?: ((client: pg.PoolClient) => Promise<void>) | undefined;
}

/**
 * Records `actor`'s vote. The policy authorizes it (outside any transaction: it is a network
 * call) against the approval as it stands; the vote is then written under the row lock, where
 * the status, the deadline and the one-vote-per-voter key are checked again. One authorized
 * rejection rejects; `required_approvals` distinct approvals approve.
 */
export async function decide(deps: LifecycleDeps, input: DecideInput, actor: string): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  const current = await findApproval(deps.pool, input.action_id);
  if (!current) throw notFound(input.action_id);
  if (current.status !== 'pending') throw closedError(current);
  if (current.overdue) {
    // Never ask the policy about a decision that can no longer be taken.
    await expire(deps, input.action_id);
    const now = await findApproval(deps.pool, input.action_id);
    throw closedError(now ?? current);
  }

  const verdict = await deps.policy.authorize(toApproval(current), actor, input.owner);
  if (!verdict.allowed) {
    throw new CountersignError(
      'forbidden',
      verdict.reasons.map((r) => r.message).join('; ') || `${actor} may not decide this approval`,
      { action_id: input.action_id, reasons: verdict.reasons },
    );
  }

  const approval = await onPending(deps, input.action_id, async (client, row, now) => {
    await input.withinTransaction?.(client);
    return vote(client, row, now, input, actor);
  });
  deps.logger.info(
    { action_id: input.action_id, decider: actor, approved: input.approved, status: approval.status },
    'vote recorded',
  );
  return approval;
}

/** Writes a vote on a locked pending approval, and the transition it completes, if any. */
async function vote(
  client: pg.PoolClient,
  row: ApprovalRow,
  now: Date,
  input: DecideInput,
  actor: string,
): Promise<Approval> {
  const inserted = await query(
    client,
    `insert into approval.votes (action_id, voter, approved, reason, at) values ($1, $2, $3, $4, $5)
     on conflict (action_id, voter) do nothing returning voter`,
    [input.action_id, actor, input.approved, input.reason ?? null, iso(now)],
  );
  if (inserted.rowCount === 0) {
    const message = `${actor} has already voted on this approval`;
    throw new CountersignError('forbidden', message, {
      action_id: input.action_id,
      reasons: [{ code: 'already_voted', message }],
    });
  }
  const voteAudit: AuditEntry = {
    action_id: input.action_id,
    event: 'voted',
    actor,
    reason: input.reason ?? null,
    data: { approved: input.approved, ...(input.owner ? { owner: input.owner } : {}) },
    at: iso(now),
  };
  // Distinct approvers: the primary key allows one vote per voter, so counting rows is enough.
  const approvals = row.votes.filter((v) => v.approved).length + (input.approved ? 1 : 0);
  const reason = input.reason ?? null;
  const transition: Transition | undefined = !input.approved
    ? { action_id: input.action_id, status: 'rejected', decided_by: actor, reason }
    : approvals >= row.required_approvals
      ? { action_id: input.action_id, status: 'approved', decided_by: actor, reason }
      : undefined;
  if (transition) {
    const [approval] = await applyTransitions(client, [transition], now, [voteAudit]);
    if (!approval) throw new CountersignError('internal', 'transition returned no approval');
    return approval;
  }
  await appendAudit(client, [voteAudit]);
  const updated = await findApproval(client, input.action_id);
  if (!updated) throw new CountersignError('internal', 'approval vanished inside its transaction');
  return toApproval(updated);
}

// ---- cancel ----------------------------------------------------------------------------------

export async function cancel(
  deps: LifecycleDeps,
  input: { action_id: string; reason?: string | undefined },
  actor: string = Actors.system,
): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  const approval = await onPending(deps, input.action_id, async (client, _row, now) => {
    const [done] = await applyTransitions(
      client,
      [{ action_id: input.action_id, status: 'cancelled', decided_by: actor, reason: input.reason ?? null }],
      now,
    );
    if (!done) throw new CountersignError('internal', 'transition returned no approval');
    return done;
  });
  deps.logger.info({ action_id: input.action_id, cancelled_by: actor }, 'approval cancelled');
  return approval;
}

// ---- report ----------------------------------------------------------------------------------

export interface ReportInput {
  action_id: string;
  outcome: 'executed' | 'failed';
  detail?: string | undefined;
}

/**
 * Adds the execution outcome of an approved action to its history. Only the requester reports,
 * once; reporting the same outcome again is a no-op, a different one a conflict.
 */
export async function report(deps: LifecycleDeps, input: ReportInput, actor: string): Promise<Approval> {
  if (containsUnstorable(input) || containsUnstorable(actor)) throw unstorableError();
  return withTransaction(deps.pool, async (client) => {
    const row = await findApproval(client, input.action_id, { lock: true });
    if (!row) throw notFound(input.action_id);
    if (actor !== row.requested_by) {
      throw new CountersignError(
        'forbidden',
        `only the requester (${row.requested_by}) may report the outcome`,
        {
          action_id: input.action_id,
          reasons: [{ code: 'not_requester', message: `${actor} did not request this action` }],
        },
      );
    }
    if (row.status !== 'approved') {
      throw new CountersignError(
        'invalid_request',
        `only approved approvals take a report; this one is ${row.status}`,
        {
          action_id: input.action_id,
          status: row.status,
        },
      );
    }
    const previous = await query<{ data: { outcome: string; detail: string | null } }>(
      client,
      "select data from approval.audit_events where action_id = $1 and event = 'reported' limit 1",
      [input.action_id],
    );
    const before = previous.rows[0]?.data;
    const detail = input.detail ?? null;
    if (before) {
      if (before.outcome === input.outcome && before.detail === detail) return toApproval(row);
      throw new CountersignError(
        'idempotency_conflict',
        `the outcome of ${input.action_id} was already reported`,
        {
          action_id: input.action_id,
          outcome: before.outcome,
        },
      );
    }
    const now = await transactionNow(client);
    await appendAudit(client, [
      {
        action_id: input.action_id,
        event: 'reported',
        actor,
        reason: detail,
        data: { outcome: input.outcome, detail },
        at: iso(now),
      },
    ]);
    return toApproval(row);
  });
}

// ---- expire ----------------------------------------------------------------------------------

/** Expires one approval if it is still pending and overdue; returns whether it did. */
export async function expire(deps: LifecycleDeps, actionId: string): Promise<boolean> {
  return withTransaction(deps.pool, async (client) => {
    const row = await findApproval(client, actionId, { lock: true });
    if (!row?.overdue) return false;
    await applyTransitions(
      client,
      [expiryTransition(row.action_id, row.policy.timeout_seconds)],
      await transactionNow(client),
    );
    return true;
  });
}

/**
 * Expires up to `batchSize` overdue approvals in one transaction. Rows locked by a decide in
 * progress, or by another replica's sweep, are skipped (SKIP LOCKED): the next sweep gets them
 * if they are still pending then. Returns how many it expired.
 */
export async function expireDue(deps: LifecycleDeps, batchSize = 500): Promise<number> {
  const expired = await withTransaction(deps.pool, async (client) => {
    const due = await query<{ action_id: string; timeout_seconds: number }>(
      client,
      `select action_id, (policy->>'timeout_seconds')::int as timeout_seconds from approval.approvals
        where status = 'pending' and expires_at <= now()
        order by expires_at limit $1 for update skip locked`,
      [batchSize],
    );
    if (due.rows.length === 0) return [];
    const transitions = due.rows.map((r) => expiryTransition(r.action_id, r.timeout_seconds));
    return applyTransitions(client, transitions, await transactionNow(client));
  });
  for (const a of expired) deps.logger.info({ action_id: a.action_id }, 'approval expired');
  return expired.length;
}

/** Sweeps until nothing overdue is left (or `maxBatches` ran): what the cleanup command calls. */
export async function expireAllDue(deps: LifecycleDeps, batchSize = 500, maxBatches = 100): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await expireDue(deps, batchSize);
    total += n;
    if (n < batchSize) break;
  }
  return total;
}
