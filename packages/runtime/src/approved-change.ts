/**
 * A change that needs approval (a policy bundle, a directory): the thing put live names an
 * approval, and it is loaded only when that approval is approved, of the change's action type,
 * for exactly this revision. Writing the store is then not enough to change what is enforced:
 * two eligible people (or a recorded break-glass) must have said yes to this revision, and an
 * approval of one revision cannot be replayed for another.
 */
import { Endpoints, ErrorBody, Headers } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** What the check reads of an approval record. */
export interface ApprovalOfChange {
  action_type: string;
  status: string;
  context: Record<string, unknown>;
  required_approvals?: number;
  votes?: readonly { approved: boolean }[];
  /** When it was filed: of two approved changes, the one filed later is in force. */
  created_at?: string;
}

/** Reads an approval by id; throws when it cannot be read (unknown, service unreachable). */
export type ApprovalLookup = (approvalId: string) => Promise<ApprovalOfChange>;

/**
 * Why a change is not loaded. `retryable`: the approval could not be read (the approval service
 * is not answering yet); otherwise the approval does not allow the change and never will.
 */
export class ChangeNotApprovedError extends Error {
  readonly code = 'approval_required';
  constructor(
    message: string,
    readonly retryable = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ChangeNotApprovedError';
  }
}

/**
 * One request to the approval service, its reply parsed with the contract's schema. A service
 * error is thrown with its `code` (the client package does the same for requesters; the runtime
 * does not depend on it).
 */
export async function askApprovalService<T>(
  nc: NatsConnection,
  subject: string,
  request: unknown,
  response: { safeParse(body: unknown): { success: true; data: T } | { success: false } },
  timeoutMs = 5000,
): Promise<T> {
  const reply = await nc.request(subject, new TextEncoder().encode(JSON.stringify(request)), {
    timeout: timeoutMs,
  });
  const body: unknown = reply.data.length === 0 ? null : JSON.parse(new TextDecoder().decode(reply.data));
  if (reply.headers?.get(Headers.serviceErrorCode)) {
    const error = ErrorBody.safeParse(body);
    throw Object.assign(new Error(error.success ? error.data.error.message : `${subject} failed`), {
      code: error.success ? error.data.error.code : 'internal',
      details: error.success ? error.data.error.details : undefined,
    });
  }
  const parsed = response.safeParse(body);
  if (!parsed.success) throw new Error(`${subject} answered a reply that does not match the contract`);
  return parsed.data;
}

/** Reads approvals through the approval service (`approval.get`), for every service but itself. */
export function approvalsOverNats(nc: NatsConnection, timeoutMs = 5000): ApprovalLookup {
  return (approvalId) =>
    askApprovalService(
      nc,
      Endpoints.get.subject,
      { action_id: approvalId },
      Endpoints.get.response,
      timeoutMs,
    );
}

export interface ChangeToCheck {
  /** The approval the change names; undefined when it names none. */
  approvalId: string | undefined;
  /** The action type such changes are filed as (`policy_change`, `directory_change`). */
  actionType: string;
  /** The revision being loaded, compared with the approval's `context.revision`. */
  revision: string;
  /** What is loaded, for messages ("bundle", "directory"). */
  what: string;
  /** How to file one, for the message when none is named. */
  howToFile: string;
}

/** The approval when it lets this revision go live; throws ChangeNotApprovedError otherwise. */
export async function requireApprovedChange(
  lookup: ApprovalLookup,
  change: ChangeToCheck,
): Promise<ApprovalOfChange> {
  const { approvalId, revision, what, actionType } = change;
  if (!approvalId) {
    throw new ChangeNotApprovedError(`${what} ${revision} names no approval: ${change.howToFile}`);
  }
  let approval: ApprovalOfChange;
  try {
    approval = await lookup(approvalId);
  } catch (err) {
    // An unknown approval stays unknown; anything else (no responder yet) may pass.
    const unknown = (err as { code?: unknown }).code === 'not_found';
    throw new ChangeNotApprovedError(
      `approval ${approvalId} of ${what} ${revision} cannot be read: ${(err as Error).message}`,
      !unknown,
      { cause: err },
    );
  }
  const problems = [
    approval.action_type !== actionType && `is a ${approval.action_type}, not a ${actionType}`,
    approval.status !== 'approved' && `is ${approval.status}`,
    approval.context.revision !== revision && `approves revision ${String(approval.context.revision)}`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new ChangeNotApprovedError(
      `approval ${approvalId} does not let ${what} ${revision} go live: it ${problems.join(', ')}`,
    );
  }
  return approval;
}
