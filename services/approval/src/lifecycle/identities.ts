/**
 * Who acts, for every door. Transports authenticate (NATS: the subject the user may publish
 * under; HTTP: the token or session) and hand the lifecycle the proven identity; these checks
 * then hold for all of them: the identity is in the directory, a payload's actor field may only
 * repeat it, a relay speaks only for people on its channel, a system requests only what it may.
 */
import { type ActorField, type ApprovalRequest, CountersignError } from '@countersign/contracts';
import type { Principal } from '@countersign/runtime';
import type { LifecycleDeps } from './deps.js';

function refusal(code: string, message: string, details: Record<string, unknown> = {}): CountersignError {
  return new CountersignError('forbidden', message, { ...details, reasons: [{ code, message }] });
}

/** The directory entry of a proven identity; `forbidden` / `unknown_identity` when there is none. */
export function knownPrincipal(deps: Pick<LifecycleDeps, 'directory'>, identity: string): Principal {
  const principal = deps.directory().get(identity);
  if (!principal) throw refusal('unknown_identity', `${identity} is not in the directory`, { identity });
  return principal;
}

/** Who a command acts as, and through whom when a relay (the notifier's folders) carried it. */
export interface BoundActor {
  actor: string;
  relay?: { by: string; channel: string };
}

/**
 * Binds a command to the authenticated identity. The payload's actor field (`decided_by`, …) may
 * repeat it; naming anyone else is `actor_mismatch`, except for a directory service that
 * `relays_decisions`, which names the person whose decision on `channel` it carries, and only a
 * person the directory allows on that channel.
 */
export function bindActor(
  deps: Pick<LifecycleDeps, 'directory'>,
  authenticated: string,
  field: ActorField,
  named: string | undefined,
  channel?: string,
): BoundActor {
  const principal = knownPrincipal(deps, authenticated);
  if (channel !== undefined) {
    if (principal.kind !== 'service' || !principal.relays_decisions) {
      throw refusal('not_a_relay', `${authenticated} may not relay decisions made on a channel`);
    }
    if (named === undefined) {
      throw new CountersignError('invalid_request', 'invalid request: a relayed decision names its decider', {
        fields: [{ path: field, message: 'required with channel' }],
      });
    }
    const person = deps.directory().person(named);
    if (!person)
      throw refusal('unknown_identity', `${named} is not a person in the directory`, { identity: named });
    if (!person.channels.includes(channel)) {
      throw refusal('not_on_channel', `${named} may not decide on the channel ${channel}`, { channel });
    }
    return { actor: person.id, relay: { by: principal.id, channel } };
  }
  if (named !== undefined && named !== principal.id) throw actorMismatch(field, principal.id, named);
  return { actor: principal.id };
}

/** A payload's actor field naming someone other than the credential proves: on every door. */
export function actorMismatch(field: ActorField, actor: string, named: string): CountersignError {
  return refusal(
    'actor_mismatch',
    `${field} must be the authenticated identity (${actor}), not ${named}: it is taken from the credential`,
  );
}

/**
 * Why `request` may not be recorded, if it may not: its requester is unknown to the directory, or
 * a system asking for an action type the directory does not list for it.
 */
export function admissionRefusal(
  deps: Pick<LifecycleDeps, 'directory'>,
  request: Pick<ApprovalRequest, 'requested_by' | 'action_type'>,
): CountersignError | undefined {
  const directory = deps.directory();
  if (!directory.get(request.requested_by)) {
    return refusal('unknown_identity', `${request.requested_by} is not in the directory`, {
      identity: request.requested_by,
    });
  }
  if (!directory.mayRequest(request.requested_by, request.action_type)) {
    return refusal(
      'not_allowed_to_request',
      `${request.requested_by} may not request ${request.action_type} (see may_request in the directory)`,
    );
  }
  return undefined;
}
