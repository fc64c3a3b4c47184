import type { Approval } from '@countersign/contracts';
import type { Directory } from './channel-config.js';

export interface Approver {
  identity: string;
  email: string | undefined;
}

/**
 * The people to ask about an approval: everyone the notifier's role map lists under one of the
 * approval's `approver_roles`, except the requester (who may never approve their own request).
 * Whether a person may really decide is checked by the policy when they do.
 */
export function approversOf(approval: Approval, directory: Directory): Approver[] {
  const identities = new Set<string>();
  for (const role of approval.policy.approver_roles) {
    for (const identity of directory.roles[role] ?? []) identities.add(identity);
  }
  identities.delete(approval.requested_by);
  return [...identities].sort().map((identity) => ({ identity, email: directory.people[identity]?.email }));
}

export function emailOf(identity: string, directory: Directory): string | undefined {
  return directory.people[identity]?.email;
}
