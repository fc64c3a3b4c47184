/**
 * The outbox rows a lifecycle change writes in its own transaction: which event an approval
 * emits, and the insert that records it. (Publishing them is the relay's job: ../outbox.ts.)
 */
import { type Approval, Subjects } from '@countersign/contracts';
import { query, type TraceCarrier } from '@countersign/runtime';
import type pg from 'pg';

export interface OutboxRow {
  action_id: string;
  kind: 'pending' | 'decided' | 'reminder' | 'escalated';
  subject: string;
  payload: Approval;
  /** The trace context the relay publishes the event in (absent when tracing is off). */
  trace_context?: TraceCarrier;
  /** Set for an event an approval emits more than once (a reminder): its own event id. */
  event_id?: string;
}

/** The event a new or changed approval emits: pending while people decide, decided once terminal. */
export function eventFor(approval: Approval, trace?: TraceCarrier): OutboxRow {
  const kind = approval.status === 'pending' ? 'pending' : 'decided';
  return {
    action_id: approval.action_id,
    kind,
    subject: kind === 'pending' ? Subjects.pending(approval.action_id) : Subjects.decided(approval.action_id),
    payload: approval,
    ...(trace ? { trace_context: trace } : {}),
  };
}

export async function insertOutbox(client: pg.PoolClient, rows: readonly OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  await query(client, `insert into approval.outbox ${OUTBOX_INSERT_SELECT('$1')}`, [JSON.stringify(rows)]);
}

/** Columns and source of an outbox insert from a JSON array of {@link OutboxRow} in parameter `param`. */
export const OUTBOX_INSERT_SELECT = (param: string) =>
  `(action_id, kind, subject, payload, trace_context, event_id)
   select action_id, kind, subject, payload, trace_context, event_id
     from json_to_recordset(${param}::json) as x(action_id text, kind text, subject text, payload json,
          trace_context json, event_id text)`;
