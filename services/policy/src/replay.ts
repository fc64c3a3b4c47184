/**
 * Replay: what a candidate policy would have decided on real history. The stored requests come
 * from the approval service (`approval.policy_inputs`, oldest first, one page at a time, so a
 * replay over months never holds them all), and each is evaluated by the live and the candidate
 * policy with the same `now` (when it was recorded) and the same directory. Only the decisions
 * that differ are kept: outcome, required approvals, approver roles, risk.
 */
import { callEndpoint } from '@countersign/client';
import type { StoredPolicyInput } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';
import { type ComparedField, changedFields, type DecisionSummary, summarize } from './compare.js';
import type { PolicyEngine } from './engine.js';

export interface DecisionChange {
  action_id: string;
  action_type: string;
  requested_by: string;
  /** When the request was recorded (the `now` both policies saw). */
  at: string;
  changed: ComparedField[];
  live: DecisionSummary;
  candidate: DecisionSummary;
}

export interface ReplayReport {
  live_revision: string;
  candidate_revision: string;
  since: string | null;
  action_type: string | null;
  /** Stored requests evaluated. */
  replayed: number;
  changes: DecisionChange[];
  /** Requests one of the policies failed closed on (an error, never a decision). */
  errors: { action_id: string; policy: 'live' | 'candidate'; message: string }[];
}

export interface ReplayOptions {
  nc: NatsConnection;
  live: PolicyEngine;
  candidate: PolicyEngine;
  /** Only requests recorded at or after this instant. */
  since?: string;
  actionType?: string;
  /** Requests per page. Default 200. */
  pageSize?: number;
  /** Per page request. Default 10 s. */
  timeoutMs?: number;
}

/** Reads every stored policy input matching the filter, page by page. */
export async function* storedPolicyInputs(
  options: Pick<ReplayOptions, 'nc' | 'since' | 'actionType' | 'pageSize' | 'timeoutMs'>,
): AsyncGenerator<StoredPolicyInput> {
  let cursor: string | undefined;
  do {
    const page = await callEndpoint(
      options.nc,
      'policyInputs',
      {
        limit: options.pageSize ?? 200,
        ...(options.since ? { since: options.since } : {}),
        ...(options.actionType ? { action_type: options.actionType } : {}),
        ...(cursor ? { cursor } : {}),
      },
      { timeout: options.timeoutMs ?? 10_000 },
    );
    yield* page.items;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}

export async function replay(options: ReplayOptions): Promise<ReplayReport> {
  const report: ReplayReport = {
    live_revision: options.live.revision,
    candidate_revision: options.candidate.revision,
    since: options.since ?? null,
    action_type: options.actionType ?? null,
    replayed: 0,
    changes: [],
    errors: [],
  };
  for await (const stored of storedPolicyInputs(options)) {
    report.replayed++;
    // The stored request as the policy saw it: the bytes recorded, `now` when it was recorded.
    const input = { ...stored.request, now: stored.now } as Parameters<PolicyEngine['decide']>[0];
    const live = evaluate(options.live, input, stored, 'live', report);
    const candidate = evaluate(options.candidate, input, stored, 'candidate', report);
    if (!live || !candidate) continue;
    const changed = changedFields(live, candidate);
    if (changed.length === 0) continue;
    report.changes.push({
      action_id: stored.action_id,
      action_type: stored.request.action_type,
      requested_by: stored.request.requested_by,
      at: stored.now,
      changed,
      live,
      candidate,
    });
  }
  return report;
}

function evaluate(
  engine: PolicyEngine,
  input: Parameters<PolicyEngine['decide']>[0],
  stored: StoredPolicyInput,
  policy: 'live' | 'candidate',
  report: ReplayReport,
): DecisionSummary | undefined {
  try {
    return summarize(engine.decide(input).result);
  } catch (err) {
    report.errors.push({ action_id: stored.action_id, policy, message: (err as Error).message });
    return undefined;
  }
}

const show = (d: DecisionSummary) =>
  `${d.outcome} x${d.required_approvals} [${d.approver_roles.join(',')}] ${d.risk}`;

/** The report as a table for people: one row per changed decision, then a summary line. */
export function formatReplay(report: ReplayReport): string {
  const header = ['action_id', 'action_type', 'requested_by', 'changed', 'live', 'candidate'];
  const rows = report.changes.map((c) => [
    c.action_id,
    c.action_type,
    c.requested_by,
    c.changed.join(','),
    show(c.live),
    show(c.candidate),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const lines = rows.length > 0 ? [line(header), ...rows.map(line), ''] : [];
  lines.push(
    `replayed ${report.replayed} requests${report.since ? ` since ${report.since}` : ''}${
      report.action_type ? ` of type ${report.action_type}` : ''
    }: ${report.changes.length} would change (live ${report.live_revision} -> candidate ${report.candidate_revision})${
      report.errors.length > 0 ? `, ${report.errors.length} failed closed` : ''
    }`,
  );
  for (const e of report.errors) lines.push(`  ${e.policy} failed on ${e.action_id}: ${e.message}`);
  return lines.join('\n');
}
