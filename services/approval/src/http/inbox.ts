/**
 * "Waiting for me": the pending approvals the signed-in person may decide now, as the policy
 * says (`policy.authorize`, the question every vote is asked), and bulk Approve/Reject on a
 * selection of them, each item decided (and authorized) on its own with its own result.
 */
import { type Approval, CountersignError, DecideRequest, parseWith } from '@countersign/contracts';
import { coerceError } from '@countersign/runtime';
import { decide, type LifecycleDeps, TASK_PAUSE } from '../lifecycle/index.js';
import { listApprovals } from '../queries.js';

/** Pending approvals looked at for one inbox, newest first: an inbox is for today's work. */
export const INBOX_SCAN_LIMIT = 500;
/** policy.authorize calls in flight at once for one inbox: pipelined, never hundreds at a time. */
const AUTHORIZE_CONCURRENCY = 16;
/** Items one bulk decision may carry. */
export const BULK_LIMIT = 100;

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of the results. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The pending approvals `identity` may decide: not expired, not voted on by them, and allowed by
 * the policy for them (`decide`; a paused task's `resume` for its owner). One authorize call per
 * candidate, pipelined on the policy client's connection with bounded concurrency; a policy
 * that does not answer fails the inbox (`unavailable`) rather than show an incomplete one as
 * complete.
 */
export async function waitingFor(
  deps: Pick<LifecycleDeps, 'pool' | 'policy'>,
  identity: string,
): Promise<{ items: Approval[]; truncated: boolean }> {
  const candidates: Approval[] = [];
  let cursor: string | undefined;
  let truncated = false;
  do {
    const page = await listApprovals(deps.pool, {
      status: 'pending',
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    candidates.push(...page.items);
    cursor = page.next_cursor ?? undefined;
    if (cursor && candidates.length >= INBOX_SCAN_LIMIT) {
      truncated = true;
      break;
    }
  } while (cursor);
  const now = Date.now();
  const open = candidates.filter(
    (a) => Date.parse(a.expires_at) > now && !a.votes.some((v) => v.voter === identity),
  );
  const verdicts = await mapLimited(open, AUTHORIZE_CONCURRENCY, (approval) =>
    deps.policy.authorize(approval.action_type === TASK_PAUSE ? 'resume' : 'decide', approval, identity),
  );
  return { items: open.filter((_, i) => verdicts[i]?.allowed), truncated };
}

/** One item of a bulk decision: what came of it. */
export type BulkResult =
  | { action_id: string; ok: true; status: Approval['status'] }
  | { action_id: string; ok: false; code: CountersignError['code']; message: string };

/**
 * Decides each of `actionIds` as `identity`, one after another through `decide` (so each is
 * authorized by the policy and written under its own row lock): one refused item (not allowed,
 * already decided, expired) never stops or undoes the others.
 */
export async function decideMany(
  deps: LifecycleDeps,
  identity: string,
  input: { actionIds: readonly string[]; approved: boolean; reason?: string | undefined },
): Promise<BulkResult[]> {
  if (input.actionIds.length === 0) {
    throw new CountersignError('invalid_request', 'invalid request: select at least one approval', {
      fields: [{ path: 'action_id', message: 'required' }],
    });
  }
  if (input.actionIds.length > BULK_LIMIT) {
    throw new CountersignError(
      'invalid_request',
      `invalid request: at most ${BULK_LIMIT} approvals at once`,
      {
        fields: [{ path: 'action_id', message: `at most ${BULK_LIMIT}` }],
      },
    );
  }
  const results: BulkResult[] = [];
  for (const actionId of new Set(input.actionIds)) {
    try {
      const request = parseWith(DecideRequest, {
        action_id: actionId,
        approved: input.approved,
        decided_by: identity,
        ...(input.reason ? { reason: input.reason } : {}),
      });
      const approval = await decide(deps, request, identity);
      results.push({ action_id: actionId, ok: true, status: approval.status });
    } catch (err) {
      const error = coerceError(err);
      if (error.code === 'internal' || error.code === 'unavailable') throw error;
      results.push({ action_id: actionId, ok: false, code: error.code, message: error.message });
    }
  }
  return results;
}
