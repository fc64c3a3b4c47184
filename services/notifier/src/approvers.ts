import type { Approval, ApprovalEvent } from '@countersign/contracts';
import type { Directory, DirectoryHolder } from '@countersign/runtime';

/**
 * Where the notifier reads the directory: the scaffold's holder, which reloads the file. Read
 * with `current()` at each use, so a reload applies to the next event without a restart.
 */
export type DirectorySource = Pick<DirectoryHolder, 'current'>;

/** A person to ask about an approval, with the contacts the directory has for them. */
export interface Approver {
  identity: string;
  email: string | undefined;
  /** Slack member id, for a mention. */
  slackUser: string | undefined;
}

/**
 * The people to ask about an approval: every person the directory lists under one of the
 * approval's `approver_roles`, except the requester (who may never approve their own request).
 * Whether a person may really decide is checked by the policy when they do. Requesting systems
 * holding a role are not asked: nobody reads their mail.
 */
export function approversOf(approval: Approval, directory: Directory): Approver[] {
  // An escalated approval also asks the members of the roles and the people it escalated to.
  const roles = [...approval.policy.approver_roles, ...(approval.escalation?.roles ?? [])];
  const identities = new Set([...directory.membersOf(roles), ...(approval.escalation?.people ?? [])]);
  return [...identities]
    .sort()
    .filter((identity) => identity !== approval.requested_by)
    .flatMap((identity) => {
      const person = directory.person(identity);
      return person ? [{ identity, email: person.email, slackUser: person.slack_user }] : [];
    });
}

/**
 * The approvers a reminder goes to: those whose vote is not in yet, neither cast by them nor by a
 * delegate on their behalf.
 */
export function waitingApproversOf(approval: Approval, directory: Directory): Approver[] {
  const voted = new Set(
    approval.votes.flatMap((v) => [v.voter, ...(v.on_behalf_of ? [v.on_behalf_of] : [])]),
  );
  return approversOf(approval, directory).filter((a) => !voted.has(a.identity));
}

/** The approvers an event asks to decide: a reminder only those who have not voted yet. */
export function askedApprovers(event: ApprovalEvent, directory: Directory): Approver[] {
  return event.type === 'approval.reminder'
    ? waitingApproversOf(event.data, directory)
    : approversOf(event.data, directory);
}

/** Whether an event asks people to decide (pending, a reminder, an escalation), not an outcome. */
export function asksToDecide(event: ApprovalEvent): boolean {
  return event.type !== 'approval.decided';
}

/** The address of a person in the directory (a requesting system has none). */
export function emailOf(identity: string, directory: Directory): string | undefined {
  return directory.person(identity)?.email;
}
