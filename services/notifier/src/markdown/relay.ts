import { callEndpoint } from '@countersign/client';
import type { Approval } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** A decision a person wrote into a markdown file, relayed for them. */
export interface RelayedDecision {
  action_id: string;
  approved: boolean;
  /** The person (canonical, in the directory, allowed on the channel). */
  decided_by: string;
  reason?: string;
  /** The markdown channel the person decided on. */
  channel: string;
}

/**
 * Sends a person's decision to the approval service as the notifier: on the notifier's own
 * actor subject (`approval.decide.<notifier>`, which only the notifier's NATS user may publish),
 * naming the person and the channel. The approval service accepts it only from a directory
 * service with `relays_decisions`, and only for a person whose `channels` lists the channel;
 * the usual authorization (roles, no self-approval) then applies to the person.
 */
export function relayDecision(
  nc: NatsConnection,
  notifierIdentity: string,
  decision: RelayedDecision,
): Promise<Approval> {
  return callEndpoint(nc, 'decide', decision, { actor: notifierIdentity });
}
