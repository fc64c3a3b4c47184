/**
 * The full audit check behind `pnpm verify-audit` (verify-audit-command.ts), as pure functions:
 * one approval's row, votes and audit chain against each other, against the audit key, and
 * against the heads signed and published outside the database. Each check names the FIRST event
 * (seq) or row that disagrees, so an operator knows where the record stops being trustworthy.
 */
import type { ApprovalStatus } from '@countersign/contracts';
import { type ChainEvent, verifyAuditChain } from './audit.js';
import type { AuditKeys } from './audit-key.js';

const TERMINAL = new Set<string>(['approved', 'rejected', 'expired', 'cancelled']);

/** What the check reads of an approvals row. */
export interface AuditedApproval {
  action_id: string;
  status: ApprovalStatus;
  request_hash: string;
  decided_by: string | null;
}

/** What the check reads of a votes row. */
export interface AuditedVote {
  voter: string;
  approved: boolean;
}

/** A published head: the hash an approval's event at `seq` had when it was signed. */
export interface PublishedHead {
  seq: number;
  hash: string;
  /** When the message was signed (RFC 3339), for the report. */
  published_at: string;
}

/** One disagreement: the first event (seq) or the row that does not match. */
export interface AuditFinding {
  action_id: string;
  /** The first audit event that disagrees, when it is an event. */
  seq?: number;
  /** The table row that disagrees, when it is a row (`approvals`, `votes(<voter>)`). */
  row?: string;
  problem: string;
}

export interface ApprovalAudit {
  action_id: string;
  /** Undefined: there is no approvals row (deleted). */
  approval: AuditedApproval | undefined;
  votes: readonly AuditedVote[];
  /** The audit_events rows, oldest first, with their key ids. */
  events: readonly ChainEvent[];
  /** Every published head of this approval, any order. */
  heads: readonly PublishedHead[];
}

/**
 * The first disagreement of one approval, or undefined when everything agrees. First the events:
 * against the published heads (the only evidence that survives a writer with the audit key) and
 * the chain's links and HMACs (what a writer without the key cannot fake), the earlier of the
 * two; then the row and the votes against the chain (what a writer who only edits rows changes).
 */
export function auditApproval(input: ApprovalAudit, keys: AuditKeys): AuditFinding | undefined {
  const { action_id, approval, events } = input;
  const finding = (f: Omit<AuditFinding, 'action_id'>): AuditFinding => ({ action_id, ...f });

  // Published heads: the earliest one the database no longer matches is where it was rewritten.
  let headFinding: AuditFinding | undefined;
  for (const head of [...input.heads].sort((a, b) => a.seq - b.seq)) {
    const event = events[head.seq - 1];
    if (!event || event.seq !== head.seq) {
      const end = events.length === 0 ? 'has no events' : `ends at event ${events.at(-1)?.seq}`;
      headFinding = finding({
        seq: head.seq,
        problem: `missing: a head signed at ${head.published_at} has event ${head.seq}, the database ${end}${
          approval ? '' : ' and no approvals row'
        }`,
      });
      break;
    }
    if (event.hash !== head.hash) {
      headFinding = finding({
        seq: head.seq,
        problem: `rewritten: its hash differs from the head signed at ${head.published_at}`,
      });
      break;
    }
  }
  // The chain: links and HMACs, what a writer without the key cannot fake. Of the two, the
  // earlier event is where the record stops being trustworthy.
  const chain = verifyAuditChain(action_id, events, keys);
  const chainFinding = chain.ok ? undefined : finding({ seq: chain.seq, problem: chain.problem });
  if (headFinding && chainFinding) {
    return (chainFinding.seq as number) <= (headFinding.seq as number) ? chainFinding : headFinding;
  }
  if (headFinding ?? chainFinding) return headFinding ?? chainFinding;

  if (!approval) {
    return events.length > 0
      ? finding({ row: 'approvals', problem: 'missing: audit events without their approval' })
      : finding({ row: 'approvals', problem: 'missing: the approval is gone' });
  }

  const requested = events[0];
  if (requested?.event !== 'requested') {
    return finding({ seq: 1, problem: 'the chain does not start with the request' });
  }
  // Chains from before request_hash was recorded have none to compare.
  const hash = requested.data.request_hash;
  if (hash !== undefined && hash !== approval.request_hash) {
    return finding({ row: 'approvals', problem: `request_hash differs from the one event 1 recorded` });
  }

  // Votes: each voted event has its row, as it was cast; each row has its event.
  const rows = new Map(input.votes.map((v) => [v.voter, v]));
  const voted = new Set<string>();
  for (const event of events) {
    if (event.event !== 'voted') continue;
    voted.add(event.actor);
    const row = rows.get(event.actor);
    if (!row) return finding({ seq: event.seq, problem: `the vote of ${event.actor} has no votes row` });
    if (row.approved !== event.data.approved) {
      return finding({
        seq: event.seq,
        problem: `the votes row of ${event.actor} says approved=${row.approved}, the event ${String(event.data.approved)}`,
      });
    }
  }
  for (const vote of input.votes) {
    if (!voted.has(vote.voter))
      return finding({ row: `votes(${vote.voter})`, problem: 'a vote without its audit event' });
  }

  // Status: pending has no terminal event; a terminal status is the chain's one terminal event.
  const terminal = events.filter((e) => TERMINAL.has(e.event));
  if (approval.status === 'pending') {
    const first = terminal[0];
    if (first) return finding({ seq: first.seq, problem: `the chain says ${first.event}, the row pending` });
    return undefined;
  }
  const decision = terminal[0];
  if (!decision)
    return finding({ row: 'approvals', problem: `status ${approval.status} has no audit event` });
  if (terminal.length > 1) {
    return finding({ seq: terminal[1]?.seq as number, problem: 'a second decision in the chain' });
  }
  if (decision.event !== approval.status) {
    return finding({
      seq: decision.seq,
      problem: `the chain says ${decision.event}, the row ${approval.status}`,
    });
  }
  if (decision.actor !== approval.decided_by) {
    return finding({
      row: 'approvals',
      problem: `decided_by ${approval.decided_by} differs from ${decision.actor}, who event ${decision.seq} says decided`,
    });
  }
  return undefined;
}

/** One line of the report. */
export function describeFinding(f: AuditFinding): string {
  const where = f.seq !== undefined ? `event ${f.seq}` : (f.row ?? 'approval');
  return `${f.action_id}: ${where}: ${f.problem}`;
}
