/**
 * Decide: an approver's vote, authorized by the policy and written under the approval's row
 * lock, and the transition it completes. The decision latency metric is recorded here, once
 * for every door (NATS, HTTP API, review link, dashboard), after the vote's transaction commits.
 */
import { type Approval, CountersignError } from '@countersign/contracts';
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { type AuditEntry, appendAudit } from '../audit.js';
import { findApproval, notFound } from '../queries.js';
import { type ApprovalRow, iso, toApproval, type VoteJson } from '../records.js';
import { authorize, TASK_PAUSE } from './authorize.js';
import { grantsInForce } from './delegations.js';
import type { LifecycleDeps } from './deps.js';
import { expire } from './expiry.js';
import { knownPrincipal } from './identities.js';
import { containsUnstorable, unstorableError } from './storable.js';
import { applyTransitions, closedError, onPending, type Transition } from './transitions.js';

export interface DecideInput {
  action_id: string;
  approved: boolean;
  reason?: string | undefined;
  /** Set when a relay (the notifier's markdown folders) carried the decision: recorded with the vote. */
  relay?: { by: string; channel: string } | undefined;
  /** Vote as the delegate of this person (a delegation from them to the actor must be in force). */
  on_behalf_of?: string | undefined;
}

/** How a caller takes part in the vote's transaction; the domain input above stays plain data. */
export interface DecideOptions {
  /**
   * Runs inside the vote's transaction, under the approval's row lock, before the vote is
   * written; a throw rolls the vote back. The review link burns its single-use nonce here, so the
   * nonce is spent if and only if the vote is recorded. Default: nothing runs.
   */
  inTransaction?: ((client: pg.PoolClient) => Promise<void>) | undefined;
}

/**
 * Records `actor`'s vote. The policy authorizes it (outside any transaction: it is a network
 * call) against the approval as it stands; the vote is then written under the row lock, where
 * the status, the deadline and the one-vote-per-voter key are checked again. One authorized
 * rejection rejects; `required_approvals` distinct approvals approve.
 */
export async function decide(
  deps: LifecycleDeps,
  input: DecideInput,
  actor: string,
  options: DecideOptions = {},
): Promise<Approval> {
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

  // A paused task is not approved but resumed, and only by its owner: the policy tells them apart.
  const action = current.action_type === TASK_PAUSE ? 'resume' : 'decide';
  const behalf = input.on_behalf_of;
  if (behalf !== undefined) knownPrincipal(deps, behalf);
  // The grants are facts from our table; whether they let this vote through is the policy's call.
  const delegation =
    behalf === undefined
      ? undefined
      : { on_behalf_of: behalf, grants: await grantsInForce(deps.pool, actor, behalf) };
  await authorize(deps, action, toApproval(current), actor, delegation);

  const approval = await onPending(deps, input.action_id, async (client, row, now) => {
    if (behalf !== undefined && (await grantsInForce(client, actor, behalf)).length === 0) {
      // Revoked (or ended) between the policy's answer and this lock: the vote is not written.
      const message = `${actor} holds no delegation from ${behalf} in force`;
      throw new CountersignError('forbidden', message, {
        action_id: input.action_id,
        reasons: [{ code: 'not_delegated', message }],
      });
    }
    await options.inTransaction?.(client);
    return vote(deps, client, row, now, input, actor);
  });
  // Debug, not info: one line per vote on the hottest command path (the vote and its outcome
  // are in the audit chain and the decided event; the decision metric counts them).
  deps.logger.debug(
    {
      action_id: input.action_id,
      decider: actor,
      on_behalf_of: behalf,
      approved: input.approved,
      status: approval.status,
    },
    'vote recorded',
  );
  // After the commit, so a rolled-back vote is never counted; every door calls decide, none
  // records it again. Only a vote that completed the approval observes (see metrics.ts).
  deps.metrics.decided(approval);
  return approval;
}

/** Writes a vote on a locked pending approval, and the transition it completes, if any. */
async function vote(
  deps: LifecycleDeps,
  client: pg.PoolClient,
  row: ApprovalRow,
  now: Date,
  input: DecideInput,
  actor: string,
): Promise<Approval> {
  // Whose vote this is: the delegator's when cast as a delegate. Under the row lock, so a vote by
  // the person and one by their delegate cannot both be counted.
  const principal = input.on_behalf_of ?? actor;
  const counted = row.votes.some(
    (v) => v.voter === principal || v.on_behalf_of === principal || v.voter === actor,
  );
  const inserted = counted
    ? { rowCount: 0 }
    : await query(
        client,
        `insert into approval.votes (action_id, voter, approved, reason, at, channel, on_behalf_of)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning voter`,
        [
          input.action_id,
          actor,
          input.approved,
          input.reason ?? null,
          iso(now),
          input.relay?.channel ?? null,
          input.on_behalf_of ?? null,
        ],
        'approval-vote',
      );
  if (inserted.rowCount === 0) {
    const message = `${principal} has already voted on this approval`;
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
    data: {
      approved: input.approved,
      ...(input.relay ? { relayed_by: input.relay.by, channel: input.relay.channel } : {}),
      ...(input.on_behalf_of ? { on_behalf_of: input.on_behalf_of } : {}),
    },
    at: iso(now),
  };
  // Distinct approvers: the primary key allows one vote per voter, so counting rows is enough.
  const approvals = row.votes.filter((v) => v.approved).length + (input.approved ? 1 : 0);
  const reason = input.reason ?? null;
  const cast: VoteJson = {
    voter: actor,
    approved: input.approved,
    reason,
    at: iso(now),
    channel: input.relay?.channel ?? null,
    on_behalf_of: input.on_behalf_of ?? null,
  };
  const completes = !input.approved || approvals >= row.required_approvals;
  const transition: Transition | undefined = completes
    ? {
        action_id: input.action_id,
        status: input.approved ? 'approved' : 'rejected',
        decided_by: actor,
        reason,
        row,
        vote: cast,
      }
    : undefined;
  if (transition) {
    const [approval] = await applyTransitions(deps, client, [transition], now, [voteAudit]);
    if (!approval) throw new CountersignError('internal', 'transition returned no approval');
    return approval;
  }
  await appendAudit(client, [voteAudit]);
  const updated = await findApproval(client, input.action_id);
  if (!updated) throw new CountersignError('internal', 'approval vanished inside its transaction');
  return toApproval(updated);
}
