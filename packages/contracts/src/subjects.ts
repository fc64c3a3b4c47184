import type { z } from 'zod';
import * as pc from './policy-change.js';
import * as r from './receipts.js';
import * as s from './schemas.js';

/** Stream names. Events use one subject per approval so last-per-subject reads the latest state. */
export const Streams = {
  requests: 'APPROVAL_REQUESTS',
  events: 'APPROVAL_EVENTS',
  /** Signed heads of the audit chains, kept outside PostgreSQL (docs/security.md). */
  auditHeads: 'AUDIT_HEADS',
} as const;

export const Subjects = {
  /**
   * The intake without an identity: captured, and refused as `identity_required` (publish to
   * `requestedBy(identity)`).
   */
  requested: 'approval.requested',
  /** Every intake subject, bare and identity-scoped: what the APPROVAL_REQUESTS stream captures. */
  requestedAll: ['approval.requested', 'approval.requested.>'] as readonly string[],
  /**
   * The intake for one requester. NATS permissions let a user publish only under its own
   * identity, so the subject is the server's proof of who asked (see docs/security.md).
   */
  requestedBy: (identity: string) => `approval.requested.${identity}`,
  invalid: 'approval.invalid',
  pendingAll: 'approval.pending.>',
  decidedAll: 'approval.decided.>',
  pending: (actionId: string) => `approval.pending.${actionId}`,
  decided: (actionId: string) => `approval.decided.${actionId}`,
  /** Signed audit-chain heads: one compact JWS per message (docs/security.md, "Tamper evidence"). */
  auditHeads: 'audit.heads',
  reminderAll: 'approval.reminder.>',
  escalatedAll: 'approval.escalated.>',
  reminder: (actionId: string) => `approval.reminder.${actionId}`,
  escalated: (actionId: string) => `approval.escalated.${actionId}`,
} as const;

/** The subject an event of `type` about `actionId` is published on. */
export function eventSubject(
  type: `approval.${'pending' | 'decided' | 'reminder' | 'escalated'}`,
  actionId: string,
) {
  return `${type}.${actionId}`;
}

/** Services-framework names, as `nats micro ls` shows them. */
export const ServiceNames = { approval: 'approval', policy: 'policy', notifier: 'notifier' } as const;

/** The payload field naming who acts, on commands whose subject carries the actor. */
export type ActorField =
  | 'requested_by'
  | 'decided_by'
  | 'cancelled_by'
  | 'reported_by'
  | 'delegator'
  | 'revoked_by'
  | 'extended_by';

interface EndpointSpec<Req extends z.ZodType, Res extends z.ZodType> {
  /** Endpoint name inside its service. */
  name: string;
  /**
   * The subject, or for an actor-bound command its prefix: callers send to
   * `actorSubject(endpoint, identity)` = `<subject>.<identity>`, and the service takes the actor
   * from there, never from the payload.
   */
  subject: string;
  /** Set on actor-bound commands: the payload field that may repeat the actor (or is filled). */
  actor: ActorField | undefined;
  request: Req;
  response: Res;
  /** Largest request this endpoint decodes, when not MAX_PAYLOAD_BYTES (a policy bundle). */
  maxBytes?: number;
}

function endpoint<Req extends z.ZodType, Res extends z.ZodType>(
  name: string,
  subject: string,
  request: Req,
  response: Res,
  actor?: ActorField,
  maxBytes?: number,
): EndpointSpec<Req, Res> {
  return { name, subject, request, response, actor, ...(maxBytes ? { maxBytes } : {}) };
}

/** Every request/reply command: subject, request schema and reply schema together. */
export const Endpoints = {
  submit: endpoint('submit', 'approval.submit', s.ApprovalRequest, s.Approval, 'requested_by'),
  decide: endpoint('decide', 'approval.decide', s.DecideRequest, s.Approval, 'decided_by'),
  cancel: endpoint('cancel', 'approval.cancel', s.CancelRequest, s.Approval, 'cancelled_by'),
  get: endpoint('get', 'approval.get', s.GetRequest, s.ApprovalWithHistory),
  list: endpoint('list', 'approval.list', s.ListRequest, s.ListResponse),
  stats: endpoint('stats', 'approval.stats', s.StatsRequest, s.StatsResponse),
  policyInputs: endpoint(
    'policy_inputs',
    'approval.policy_inputs',
    s.PolicyInputsRequest,
    s.PolicyInputsResponse,
  ),
  report: endpoint('report', 'approval.report', s.ReportRequest, s.Approval, 'reported_by'),
  /** The public keys receipts are signed with (a JWK Set), read-only, for anyone verifying one. */
  keys: endpoint('keys', 'approval.keys', r.KeysRequest, r.Jwks),
  extend: endpoint('extend', 'approval.extend', s.ExtendRequest, s.Approval, 'extended_by'),
  delegate: endpoint('delegate', 'approval.delegate', s.DelegateRequest, s.Delegation, 'delegator'),
  undelegate: endpoint('undelegate', 'approval.undelegate', s.UndelegateRequest, s.Delegation, 'revoked_by'),
  delegations: endpoint(
    'delegations',
    'approval.delegations',
    s.ListDelegationsRequest,
    s.ListDelegationsResponse,
  ),
  evaluate: endpoint('evaluate', 'policy.evaluate', s.EvaluateRequest, s.PolicyDecision),
  // The notifier's administration: only the ops user may publish these (nats-auth.ts).
  deadLetters: endpoint('deadletters', 'notifier.deadletters.list', s.DeadLettersRequest, s.DeliveryList),
  retryDeliveries: endpoint(
    'retry',
    'notifier.deadletters.retry',
    s.DeliveryIdsRequest,
    s.DeliveryIdsResponse,
  ),
  discardDeliveries: endpoint(
    'discard',
    'notifier.deadletters.discard',
    s.DeliveryIdsRequest,
    s.DeliveryIdsResponse,
  ),
  deliveries: endpoint('deliveries', 'notifier.deliveries', s.ApprovalDeliveriesRequest, s.DeliveryList),
  channelHealth: endpoint('health', 'notifier.health', s.ChannelHealthRequest, s.ChannelHealth),
  authorize: endpoint('authorize', 'policy.authorize', s.AuthorizeRequest, s.AuthorizeResponse),
  policyInfo: endpoint('info', 'policy.info', s.PolicyInfoRequest, s.PolicyInfo),
  /** A person proposes a policy bundle (`policy.propose.<identity>`): docs/policy.md, "Changes". */
  proposePolicy: endpoint(
    'propose',
    'policy.propose',
    pc.ProposePolicyRequest,
    pc.PolicyProposal,
    'requested_by',
    pc.MAX_PROPOSAL_BYTES,
  ),
  /** Puts an approved policy change live; anyone may ask, the approval is checked. */
  activatePolicy: endpoint('activate', 'policy.activate', pc.ActivatePolicyRequest, pc.PolicyActivation),
} as const;

export type EndpointName = keyof typeof Endpoints;

/** Where `identity` sends an actor-bound command (`approval.decide.frank`). */
export function actorSubject(name: EndpointName, identity: string): string {
  const spec = Endpoints[name];
  if (!spec.actor) throw new Error(`${spec.subject} is not an actor-bound command`);
  return `${spec.subject}.${identity}`;
}
export type RequestOf<E extends EndpointName> = z.input<(typeof Endpoints)[E]['request']>;
export type ParsedRequestOf<E extends EndpointName> = z.infer<(typeof Endpoints)[E]['request']>;
export type ResponseOf<E extends EndpointName> = z.infer<(typeof Endpoints)[E]['response']>;

/** Headers this contract uses. */
export const Headers = {
  msgId: 'Nats-Msg-Id',
  serviceError: 'Nats-Service-Error',
  serviceErrorCode: 'Nats-Service-Error-Code',
} as const;
