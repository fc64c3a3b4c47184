/**
 * The promises of the system, checked by code after a fault run: nothing accepted is lost,
 * nothing is doubled, no decision contradicts its votes, every audit chain verifies, and every
 * notification went out once, or was dead-lettered for the one documented reason: an email
 * whose send was interrupted, so that its outcome is unknown and a resend could duplicate it.
 * Each broken promise becomes one line in `violations`, naming the approval, so a failing run
 * says what broke where.
 */
import { type ApprovalStatus, decodeApprovalEvent, Streams, Subjects } from '@countersign/contracts';
import type { ReceivedMail } from '@countersign/devinfra';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type pg from 'pg';
import { verifyAuditChain } from '../../services/approval/src/audit.js';
import { TEST_AUDIT_KEYS } from '../../services/approval/test/audit-keys.js';
import type { LoadStats } from './load.js';

const TERMINAL = new Set<string>(['approved', 'rejected', 'expired', 'cancelled']);

/** What the load driver knows about a request it got an acknowledgement for. */
export interface Expectation {
  /** The statuses it may end in; absent when the driver cannot tell (any terminal status). */
  statuses?: readonly ApprovalStatus[];
}

/** What the notifier's receivers got, when the notifier ran in the scenario. */
export interface NotificationSinks {
  /** Accepted mails; the notifier's Message-ID names one delivery (event, channel, target). */
  mails: readonly ReceivedMail[];
  /** The `webhook-id` of every webhook request received, one entry per request. */
  webhookIds: readonly string[];
  /** Channels configured to notify every event (no filter): each event must have a delivery on each. */
  everyEvent?: readonly string[];
}

export interface InvariantInput {
  pool: pg.Pool;
  /** A connection straight to NATS (not through a fault proxy). */
  nc: NatsConnection;
  /** Requests the system acknowledged (PubAck on the intake, or an Approval reply). */
  accepted: ReadonlyMap<string, Expectation>;
  notifications?: NotificationSinks;
}

export interface NotificationCounts {
  events: number;
  deliveries: number;
  delivered: number;
  dead: number;
  superseded: number;
  /** Delivered after at least one attempt the receiver refused (the retry path ran). */
  retried: number;
  mails: number;
  webhooks: number;
  /** Webhook requests repeating a webhook-id already received (receivers deduplicate on it). */
  webhook_repeats: number;
}

export interface InvariantReport {
  requests: number;
  rows: number;
  terminal: number;
  decided_events: number;
  pending_events: number;
  audit_events: number;
  /** Accepted requests with no row, or terminal ones without their decided event. */
  lost: string[];
  /** Approvals with more than one decided (or pending) event, or more than one decision. */
  duplicated: string[];
  violations: string[];
  notifications?: NotificationCounts;
}

interface Row {
  action_id: string;
  status: ApprovalStatus;
  decided_by: string | null;
  decided_at: Date | null;
  expires_at: Date;
  required_approvals: number;
  outcome: string | null;
}

interface VoteRow {
  action_id: string;
  voter: string;
  approved: boolean;
  at: Date;
}

/** Message counts per subject on APPROVAL_EVENTS under a filter (one stream info call). */
export async function subjectCounts(nc: NatsConnection, filter: string): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(Streams.events, { subjects_filter: filter });
  return new Map(Object.entries(info.state.subjects ?? {}));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const ids = [...input.accepted.keys()];
  const violations: string[] = [];
  const lost = new Set<string>();
  const duplicated = new Set<string>();

  const rows = (
    await input.pool.query<Row>(
      `select action_id, status, decided_by, decided_at, expires_at, required_approvals,
              policy->>'outcome' as outcome
         from approval.approvals where action_id = any($1::text[])`,
      [ids],
    )
  ).rows;
  const byId = new Map(rows.map((r) => [r.action_id, r]));
  const votes = groupBy(
    (
      await input.pool.query<VoteRow>(
        'select action_id, voter, approved, at from approval.votes where action_id = any($1::text[])',
        [ids],
      )
    ).rows,
    (v) => v.action_id,
  );
  const decided = await subjectCounts(input.nc, Subjects.decidedAll);
  const pending = await subjectCounts(input.nc, Subjects.pendingAll);

  // Exactly one row per accepted request, exactly one decided event once terminal, at most
  // one pending event and only when the policy asked for people.
  for (const [id, expectation] of input.accepted) {
    const row = byId.get(id);
    if (!row) {
      lost.add(id);
      violations.push(`${id}: accepted but no approval row`);
      continue;
    }
    const decidedCount = decided.get(Subjects.decided(id)) ?? 0;
    const pendingCount = pending.get(Subjects.pending(id)) ?? 0;
    const terminal = TERMINAL.has(row.status);
    if (terminal && decidedCount === 0) {
      lost.add(id);
      violations.push(`${id}: ${row.status} but no approval.decided event`);
    }
    if (!terminal && decidedCount > 0) violations.push(`${id}: pending but has a decided event`);
    if (decidedCount > 1) {
      duplicated.add(id);
      violations.push(`${id}: ${decidedCount} approval.decided events`);
    }
    if (pendingCount > 1) {
      duplicated.add(id);
      violations.push(`${id}: ${pendingCount} approval.pending events`);
    }
    if (pendingCount === 1 && row.outcome !== 'needs_approval') {
      violations.push(`${id}: a pending event for a ${row.outcome} decision`);
    }
    if (row.outcome === 'needs_approval' && pendingCount === 0) {
      lost.add(id);
      violations.push(`${id}: needed people but no approval.pending event`);
    }
    if (expectation.statuses && !expectation.statuses.includes(row.status)) {
      violations.push(`${id}: ended ${row.status}, acknowledged as ${expectation.statuses.join(' or ')}`);
    }
    violations.push(...decisionViolations(row, votes.get(id) ?? []));
  }

  // The one decided event says what the row says (a second decision would show up here too).
  const terminalIds = rows.filter(
    (r) => TERMINAL.has(r.status) && decided.has(Subjects.decided(r.action_id)),
  );
  const jsm = await jetstreamManager(input.nc);
  await inBatches(terminalIds, 32, async (row) => {
    const msg = await jsm.streams.getMessage(Streams.events, {
      last_by_subj: Subjects.decided(row.action_id),
    });
    const decoded = msg ? decodeApprovalEvent(msg.data) : undefined;
    if (!decoded?.ok) {
      violations.push(
        `${row.action_id}: decided event does not parse as an ApprovalEvent${decoded ? `: ${decoded.error.message}` : ''}`,
      );
    } else if (decoded.event.data.status !== row.status || decoded.event.data.decided_by !== row.decided_by) {
      violations.push(
        `${row.action_id}: decided event says ${decoded.event.data.status} by ${decoded.event.data.decided_by}, row says ${row.status} by ${row.decided_by}`,
      );
    }
  });

  // Every audit chain verifies, and records exactly the one decision the row holds.
  const audit = await input.pool.query(
    `select action_id, seq, event, actor, reason, data, at, prev_hash, hash
       from approval.audit_events where action_id = any($1::text[]) order by action_id, seq`,
    [ids],
  );
  const chains = groupBy(audit.rows, (r) => r.action_id as string);
  for (const row of rows) {
    const chain = (chains.get(row.action_id) ?? []).map((e) => ({ ...e, at: (e.at as Date).toISOString() }));
    const verdict = verifyAuditChain(row.action_id, chain, TEST_AUDIT_KEYS);
    if (!verdict.ok)
      violations.push(`${row.action_id}: audit chain broken at seq ${verdict.seq}: ${verdict.problem}`);
    const decisions = chain.filter((e) => TERMINAL.has(e.event));
    if (decisions.length > 1) {
      duplicated.add(row.action_id);
      violations.push(`${row.action_id}: decided ${decisions.length} times in the audit trail`);
    }
    const expectedDecisions = TERMINAL.has(row.status) ? [row.status] : [];
    if (decisions.length <= 1 && decisions.map((e) => e.event).join() !== expectedDecisions.join()) {
      violations.push(
        `${row.action_id}: audit trail decision ${decisions[0]?.event ?? 'none'}, row ${row.status}`,
      );
    }
  }

  // Nothing decided that nobody asked for: every decided event belongs to a row.
  const phantom = await input.pool.query<{ action_id: string }>(
    'select action_id from approval.approvals where action_id = any($1::text[])',
    [[...decided.keys()].map((s) => s.slice(Subjects.decided('').length))],
  );
  if (phantom.rows.length !== decided.size) {
    violations.push(`${decided.size - phantom.rows.length} decided events without an approval row`);
  }

  const report: InvariantReport = {
    requests: ids.length,
    rows: rows.length,
    terminal: rows.filter((r) => TERMINAL.has(r.status)).length,
    decided_events: ids.reduce((n, id) => n + (decided.get(Subjects.decided(id)) ?? 0), 0),
    pending_events: ids.reduce((n, id) => n + (pending.get(Subjects.pending(id)) ?? 0), 0),
    audit_events: audit.rowCount ?? 0,
    lost: [...lost],
    duplicated: [...duplicated],
    violations,
  };
  if (input.notifications) {
    report.notifications = await checkNotifications(input, violations, lost, duplicated);
  }
  report.lost = [...lost];
  report.duplicated = [...duplicated];
  return report;
}

/** A decision must follow from the votes (or the policy, the expiry, a cancel): never against them. */
function decisionViolations(row: Row, votes: readonly VoteRow[]): string[] {
  const id = row.action_id;
  const approvers = new Set(votes.filter((v) => v.approved).map((v) => v.voter));
  const rejecters = votes.filter((v) => !v.approved).map((v) => v.voter);
  const problems: string[] = [];
  const afterDecision = row.decided_at
    ? votes.filter((v) => v.at.getTime() > (row.decided_at as Date).getTime())
    : [];
  if (afterDecision.length > 0) problems.push(`${id}: ${afterDecision.length} votes after the decision`);
  const byMachine = row.decided_by === 'policy' || row.decided_by === 'countersign';
  switch (row.status) {
    case 'approved':
      if (row.decided_by !== 'policy' && approvers.size < row.required_approvals) {
        problems.push(
          `${id}: approved by ${row.decided_by} with ${approvers.size}/${row.required_approvals} approvals`,
        );
      }
      if (!byMachine && !approvers.has(row.decided_by ?? '')) {
        problems.push(`${id}: approved by ${row.decided_by}, who has no approving vote`);
      }
      if (rejecters.length > 0) problems.push(`${id}: approved despite a rejecting vote`);
      break;
    case 'rejected':
      if (!byMachine && !rejecters.includes(row.decided_by ?? '')) {
        problems.push(`${id}: rejected by ${row.decided_by}, who has no rejecting vote`);
      }
      break;
    case 'expired':
      if (row.decided_by !== 'countersign') problems.push(`${id}: expired by ${row.decided_by}`);
      if (row.decided_at && row.decided_at < row.expires_at)
        problems.push(`${id}: expired before its deadline`);
      if (approvers.size >= row.required_approvals) problems.push(`${id}: expired with enough approvals`);
      break;
    case 'pending':
      if (approvers.size >= row.required_approvals) problems.push(`${id}: pending with enough approvals`);
      if (rejecters.length > 0) problems.push(`${id}: pending despite a rejecting vote`);
      break;
    default:
      break;
  }
  return problems;
}

/**
 * What the load was told that no well-behaved client should be told: an `internal` answer, even
 * one a retry got past, is a service failing under faults, not riding them out.
 */
export function loadViolations(stats: Pick<LoadStats, 'unexpected'>): string[] {
  return Object.entries(stats.unexpected).map(
    ([code, count]) => `the system answered ${code} ${count} time(s) to the load`,
  );
}

/** The one reason a delivery may be dead-lettered in a fault run. */
export const INTERRUPTED_SEND = 'outcome unknown: the send was interrupted';

/** The last attempt of a delivery, from the notifier's attempt log. */
export interface LastAttempt {
  outcome: string;
  error: string | null;
}

/**
 * Whether a dead delivery's last attempt says its send was interrupted: the process died or
 * lost its database mid-send (outcome `interrupted`, found when its lease expired), or the SMTP
 * connection was cut after the message was handed over (outcome `unknown`, no reply). Either
 * way the receiver may have it, and a channel without deduplication does not risk a second
 * copy. Anything else (retries exhausted, a refusal, a deadline, a channel that threw, a
 * disabled channel with no attempt at all) is a notification lost, and a fault run fails on it:
 * the fault receivers never refuse for longer than the retry schedule lasts.
 */
export function interruptedSend(last: LastAttempt | undefined): boolean {
  if (!last?.error) return false;
  // Dead-lettered because resending could duplicate it, not because the retries ran out.
  if (!last.error.includes('outcome unknown, not resent')) return false;
  if (last.outcome === 'interrupted') return last.error.startsWith('attempt interrupted');
  return last.outcome === 'unknown' && last.error.includes('no reply after the message was sent');
}

/**
 * Every event of an accepted approval reached the notifier; every delivery ended delivered,
 * dead-lettered or superseded; a delivery is dead only because its send was interrupted (read
 * from its attempt log); a delivered email arrived exactly once and a dead one at most once; a
 * delivered webhook arrived (repeats carry the same webhook-id); nothing arrived that has no
 * delivery.
 */
async function checkNotifications(
  input: InvariantInput,
  violations: string[],
  lost: Set<string>,
  duplicated: Set<string>,
): Promise<NotificationCounts> {
  const sinks = input.notifications as NotificationSinks;
  const ids = [...input.accepted.keys()];
  const decided = await subjectCounts(input.nc, Subjects.decidedAll);
  const pending = await subjectCounts(input.nc, Subjects.pendingAll);
  const events = (
    await input.pool.query<{ id: string; action_id: string; type: string; stale: boolean }>(
      `select id, action_id, type,
              type = 'approval.pending' and received_at >= (body->'data'->>'expires_at')::timestamptz as stale
         from notifier.events where action_id = any($1::text[])`,
      [ids],
    )
  ).rows;
  const recorded = new Set(events.map((e) => `${e.type}:${e.action_id}`));
  for (const id of ids) {
    for (const [type, counts, subject] of [
      ['approval.pending', pending, Subjects.pending(id)],
      ['approval.decided', decided, Subjects.decided(id)],
    ] as const) {
      if ((counts.get(subject) ?? 0) > 0 && !recorded.has(`${type}:${id}`)) {
        lost.add(id);
        violations.push(`${id}: ${type} event never reached the notifier`);
      }
    }
  }

  const deliveries = (
    await input.pool.query<{
      id: number;
      event_id: string;
      type: string;
      channel: string;
      kind: string;
      target: string;
      status: string;
      action_id: string;
    }>(
      `select d.id, d.event_id, e.type, d.channel, d.kind, d.target, d.status, e.action_id
         from notifier.deliveries d join notifier.events e on e.id = d.event_id
        where e.action_id = any($1::text[])`,
      [ids],
    )
  ).rows;
  const delivered = new Set(deliveries.map((d) => `${d.event_id}|${d.channel}`));
  const attempts = (
    await input.pool.query<{ delivery_id: string; attempt: number; outcome: string; error: string | null }>(
      `select delivery_id, attempt, outcome, error from notifier.attempts
        where delivery_id = any($1::bigint[]) order by delivery_id, attempt`,
      [deliveries.map((d) => d.id)],
    )
  ).rows;
  const attemptLog = groupBy(attempts, (a) => String(a.delivery_id));
  // A pending event that reaches the notifier after its approval expired notifies no one.
  for (const event of events.filter((e) => !e.stale)) {
    for (const channel of sinks.everyEvent ?? []) {
      if (!delivered.has(`${event.id}|${channel}`)) {
        lost.add(event.action_id);
        violations.push(`${event.action_id}: ${event.type} has no delivery on channel ${channel}`);
      }
    }
  }
  // An email is one (approval, event type, recipient): the notifier's headers say which.
  const mailKey = (actionId: string, type: string, address: string) =>
    `${actionId}|${type}|${address.toLowerCase()}`;
  const mails = groupBy(sinks.mails, (m) =>
    mailKey(
      m.headers['x-countersign-action-id'] ?? '',
      m.headers['x-countersign-event'] ?? '',
      m.to[0] ?? '',
    ),
  );
  const hooks = groupBy(sinks.webhookIds, (id) => id);
  const explained = new Set<string>();
  let webhookRepeats = 0;
  let retried = 0;
  for (const d of deliveries) {
    if (!['delivered', 'dead', 'superseded'].includes(d.status)) {
      violations.push(`${d.action_id}: delivery ${d.id} (${d.kind} to ${d.target}) still ${d.status}`);
      continue;
    }
    const log = attemptLog.get(String(d.id)) ?? [];
    if (d.status === 'dead') {
      const last = log.at(-1);
      if (!interruptedSend(last)) {
        lost.add(d.action_id);
        violations.push(
          `${d.action_id}: ${d.type} ${d.kind} to ${d.target} dead-lettered, not "${INTERRUPTED_SEND}": ${
            last ? `${last.outcome}: ${last.error}` : 'no attempt recorded'
          }`,
        );
      }
    }
    if (d.status === 'delivered' && log.some((a) => a.outcome === 'retry')) retried++;
    if (d.kind === 'email') {
      const key = mailKey(d.action_id, d.type, d.target);
      explained.add(key);
      const arrived = mails.get(key)?.length ?? 0;
      if (arrived > 1) duplicated.add(d.action_id);
      if (d.status === 'delivered' ? arrived !== 1 : arrived > 1) {
        violations.push(
          `${d.action_id}: ${d.type} email to ${d.target} ${d.status}, arrived ${arrived} times`,
        );
      }
    } else if (d.kind === 'webhook') {
      const arrived = hooks.get(d.event_id)?.length ?? 0;
      if (d.status === 'delivered' && arrived === 0) {
        violations.push(`${d.action_id}: ${d.type} webhook delivered, never arrived`);
      }
      webhookRepeats += Math.max(0, arrived - 1);
    }
  }
  const accepted = new Set(ids);
  for (const [key, received] of mails) {
    if (!explained.has(key) && accepted.has(key.split('|')[0] ?? '')) {
      violations.push(`${received.length} mail(s) arrived that no delivery accounts for: ${key}`);
    }
  }
  return {
    events: events.length,
    deliveries: deliveries.length,
    delivered: deliveries.filter((d) => d.status === 'delivered').length,
    dead: deliveries.filter((d) => d.status === 'dead').length,
    superseded: deliveries.filter((d) => d.status === 'superseded').length,
    retried,
    mails: sinks.mails.length,
    webhooks: sinks.webhookIds.length,
    webhook_repeats: webhookRepeats,
  };
}
