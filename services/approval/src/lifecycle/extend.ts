/**
 * Extend: an eligible approver moves a pending approval's deadline later, once, by at most the
 * policy's `max_extension_seconds` (the policy says who may and how far; `extend` in
 * authorize.rego). Audited as `extended`. Expiry stays its own outcome: an overdue approval is
 * expired, never extended.
 */
import { type Approval, CountersignError, type ExtendRequest } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import { appendAudit } from '../audit.js';
import { findApproval, notFound } from '../queries.js';
import { APPROVAL_COLUMNS, type ApprovalRow, iso, toApproval } from '../records.js';
import { authorize } from './authorize.js';
import type { LifecycleDeps } from './deps.js';
import { containsUnstorable, unstorableError } from './storable.js';
import { closedError, onPending } from './transitions.js';

export async function extend(deps: LifecycleDeps, input: ExtendRequest, actor: string): Promise<Approval> {
  if (containsUnstorable(input)) throw unstorableError();
  const current = await findApproval(deps.pool, input.action_id);
  if (!current) throw notFound(input.action_id);
  if (current.status !== 'pending') throw closedError(current);
  await authorize(deps, 'extend', toApproval(current), actor, undefined, input.seconds);
  const approval = await onPending(deps, input.action_id, async (client, row, now) => {
    if (row.extension) {
      // Extended by someone else between the policy's answer and this lock.
      const message = "this approval's deadline was extended already (once per approval)";
      throw new CountersignError('forbidden', message, {
        action_id: input.action_id,
        reasons: [{ code: 'already_extended', message }],
      });
    }
    const extension = { by: actor, seconds: input.seconds, at: iso(now) };
    const updated = await query<ApprovalRow>(
      client,
      `update approval.approvals a
          set expires_at = a.expires_at + make_interval(secs => $2::int), extension = $3::jsonb
        where a.action_id = $1 and a.status = 'pending'
        returning ${APPROVAL_COLUMNS}`,
      [input.action_id, input.seconds, JSON.stringify(extension)],
    );
    const after = updated.rows[0];
    if (!after) throw new CountersignError('internal', 'approval vanished inside its transaction');
    await appendAudit(client, [
      {
        action_id: input.action_id,
        event: 'extended',
        actor,
        reason: input.reason ?? null,
        data: { seconds: input.seconds, expires_at: iso(after.expires_at) },
        at: iso(now),
      },
    ]);
    return toApproval(after);
  });
  deps.logger.info({ action_id: input.action_id, by: actor, seconds: input.seconds }, 'deadline extended');
  return approval;
}
