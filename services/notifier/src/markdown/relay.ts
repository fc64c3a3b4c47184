import { readReply } from '@countersign/client';
import { type Approval, actorSubject, CountersignError, Endpoints } from '@countersign/contracts';
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

const encoder = new TextEncoder();

/**
 * Sends a person's decision to the approval service as the notifier: on the notifier's own
 * actor subject (`approval.decide.<notifier>`, which only the notifier's NATS user may publish),
 * naming the person and the channel. The approval service accepts it only from a directory
 * service with `relays_decisions`, and only for a person whose `channels` lists the channel;
 * the usual authorization (roles, no self-approval) applies to the person.
 */
export async function relayDecision(
  nc: NatsConnection,
  notifierIdentity: string,
  decision: RelayedDecision,
  timeoutMs = 5000,
): Promise<Approval> {
  const subject = actorSubject('decide', notifierIdentity);
  let reply: Awaited<ReturnType<NatsConnection['request']>>;
  try {
    reply = await nc.request(subject, encoder.encode(JSON.stringify(decision)), { timeout: timeoutMs });
  } catch (err) {
    // No responder or no reply in time: nothing is known to be decided, so the edit is kept.
    throw new CountersignError('unavailable', `${subject} did not answer`, { subject }, { cause: err });
  }
  return readReply(subject, reply, Endpoints.decide.response);
}
