import {
  ApprovalStatus,
  type ApprovalWithHistory,
  CountersignError,
  type ListRequest,
  type ListResponse,
  type StatsResponse,
} from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { loadHistory } from './audit.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval } from './records.js';

/**
 * One approval row with its votes, or undefined. `lock` first takes the row lock (inside a
 * transaction), then reads in a second statement: under READ COMMITTED a statement's snapshot
 * is taken when it starts, so reading in the locking statement itself could miss the votes
 * of the transaction it waited for.
 */
export async function findApproval(
  db: pg.Pool | pg.PoolClient,
  actionId: string,
  options: { lock?: boolean } = {},
): Promise<ApprovalRow | undefined> {
  if (options.lock) {
    const locked = await query(db, 'select 1 from approval.approvals where action_id = $1 for update', [
      actionId,
    ]);
    if (locked.rowCount === 0) return undefined;
  }
  const result = await query<ApprovalRow>(
    db,
    `select ${APPROVAL_COLUMNS} from approval.approvals a where a.action_id = $1`,
    [actionId],
  );
  return result.rows[0];
}

export async function getApproval(db: pg.Pool, actionId: string): Promise<ApprovalWithHistory> {
  const row = await findApproval(db, actionId);
  if (!row) throw notFound(actionId);
  return { ...toApproval(row), history: await loadHistory(db, actionId) };
}

export function notFound(actionId: string): CountersignError {
  return new CountersignError('not_found', `no approval with action_id ${actionId}`, { action_id: actionId });
}

// ---- list ------------------------------------------------------------------------------------

interface Cursor {
  created_at: string;
  action_id: string;
}

/** Opaque keyset cursor: base64url of the last item's (created_at, action_id). */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.created_at, cursor.action_id])).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string' &&
      !Number.isNaN(Date.parse(value[0]))
    ) {
      return { created_at: value[0], action_id: value[1] };
    }
  } catch {
    // fall through to the structured error
  }
  throw new CountersignError('invalid_request', 'cursor is not one this service issued', {
    fields: [{ path: 'cursor', message: 'invalid cursor' }],
  });
}

/** Newest first, filtered, keyset-paginated on (created_at, action_id) so pages never shift. */
export async function listApprovals(db: pg.Pool, request: ListRequest): Promise<ListResponse> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    values.push(value);
    where.push(sql.replace('?', `$${values.length}`));
  };
  if (request.status) add('a.status = ?', request.status);
  if (request.run_id) add('a.run_id = ?', request.run_id);
  if (request.action_type) add('a.action_type = ?', request.action_type);
  if (request.requested_by) add('a.requested_by = ?', request.requested_by);
  if (request.cursor) {
    const cursor = decodeCursor(request.cursor);
    values.push(cursor.created_at, cursor.action_id);
    where.push(`(a.created_at, a.action_id) < ($${values.length - 1}::timestamptz, $${values.length})`);
  }
  values.push(request.limit + 1);
  const result = await query<ApprovalRow>(
    db,
    `select ${APPROVAL_COLUMNS} from approval.approvals a
      ${where.length ? `where ${where.join(' and ')}` : ''}
      order by a.created_at desc, a.action_id desc
      limit $${values.length}`,
    values,
  );
  const rows = result.rows.slice(0, request.limit);
  const last = rows.at(-1);
  const more = result.rows.length > request.limit;
  return {
    items: rows.map(toApproval),
    next_cursor:
      more && last ? encodeCursor({ created_at: iso(last.created_at), action_id: last.action_id }) : null,
  };
}

// ---- stats -----------------------------------------------------------------------------------

/**
 * Counts by status, the pending backlog and its oldest age, and the median time from request to
 * decision of approvals that waited for people (auto-decisions would drown it in zeros).
 */
export async function approvalStats(db: pg.Pool): Promise<StatsResponse> {
  const counts = await query<{ status: ApprovalStatus; n: string }>(
    db,
    'select status, count(*) as n from approval.approvals group by status',
  );
  const by_status = Object.fromEntries(ApprovalStatus.options.map((s) => [s, 0])) as Record<
    ApprovalStatus,
    number
  >;
  for (const row of counts.rows) by_status[row.status] = Number(row.n);
  const ages = await query<{ oldest: number | null; median: number | null }>(
    db,
    `select
       (select extract(epoch from now() - min(created_at))::float8
          from approval.approvals where status = 'pending') as oldest,
       (select percentile_cont(0.5) within group (order by extract(epoch from decided_at - created_at))::float8
          from approval.approvals
         where status <> 'pending' and policy->>'outcome' = 'needs_approval') as median`,
  );
  const row = ages.rows[0];
  return {
    by_status,
    pending: by_status.pending,
    oldest_pending_age_seconds: row?.oldest == null ? null : Math.max(0, row.oldest),
    median_decision_seconds: row?.median == null ? null : Math.max(0, row.median),
  };
}
