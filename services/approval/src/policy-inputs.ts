/**
 * `approval.policy_inputs`: the stored policy inputs a replay re-evaluates (`pnpm policy replay`),
 * oldest first, in keyset pages so a replay over months never loads them all. Read-only.
 */
import {
  CountersignError,
  PolicyDecision,
  type PolicyInputsRequest,
  type PolicyInputsResponse,
  StoredPolicyInput,
} from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { decodeCursor, encodeCursor } from './queries.js';
import { iso } from './records.js';

interface InputRow {
  action_id: string;
  created_at: Date;
  policy: unknown;
  request: unknown;
}

export async function listPolicyInputs(
  db: pg.Pool,
  request: PolicyInputsRequest,
): Promise<PolicyInputsResponse> {
  // Requests refused before any evaluation (revision `none`) have no decision to compare.
  const where = [`a.policy->>'revision' <> 'none'`];
  const values: unknown[] = [];
  const add = (sql: string, ...args: unknown[]) => {
    let text = sql;
    for (const arg of args) {
      values.push(arg);
      text = text.replace('?', `$${values.length}`);
    }
    where.push(text);
  };
  if (request.since) add('a.created_at >= ?::timestamptz', request.since);
  if (request.action_type) add('a.action_type = ?', request.action_type);
  if (request.cursor) {
    const cursor = decodeCursor(request.cursor);
    add('(a.created_at, a.action_id) > (?::timestamptz, ?)', cursor.created_at, cursor.action_id);
  }
  values.push(request.limit + 1);
  // Approvals recorded before policy_input was kept: their request rebuilt from the columns
  // (only a request's own timeout_seconds is lost).
  const result = await query<InputRow>(
    db,
    `select a.action_id, a.created_at, a.policy,
            coalesce(a.policy_input, jsonb_strip_nulls(jsonb_build_object(
              'action_id', a.action_id, 'action_type', a.action_type, 'description', a.description,
              'context', a.context, 'requested_by', a.requested_by, 'run_id', a.run_id))) as request
       from approval.approvals a
      where ${where.join(' and ')}
      order by a.created_at, a.action_id
      limit $${values.length}`,
    values,
  );
  const rows = result.rows.slice(0, request.limit);
  const last = rows.at(-1);
  return {
    items: rows.map((row) => ({
      action_id: row.action_id,
      request: parseStored(StoredPolicyInput.shape.request, row.request, row.action_id),
      now: iso(row.created_at),
      decision: parseStored(PolicyDecision, row.policy, row.action_id),
    })),
    next_cursor:
      result.rows.length > request.limit && last
        ? encodeCursor({ created_at: iso(last.created_at), action_id: last.action_id })
        : null,
  };
}

function parseStored<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  value: unknown,
  actionId: string,
): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // A stored row that no longer parses is a bug to see, never a silently skipped request.
    throw new CountersignError('internal', `stored policy input of ${actionId} does not parse`, {
      action_id: actionId,
    });
  }
  return parsed.data;
}
