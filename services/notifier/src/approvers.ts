import type { Approval } from '@countersign/contracts';
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
  return directory
    .membersOf(approval.policy.approver_roles)
    .filter((identity) => identity !== approval.requested_by)
    .flatMap((identity) => {
      const person = directory.person(identity);
      return person ? [{ identity, email: person.email, slackUser: person.slack_user }] : [];
    });
}

/** The address of a person in the directory (a requesting system has none). */
export function emailOf(identity: string, directory: Directory): string | undefined {
  return directory.person(identity)?.email;
}
