import { z } from 'zod';
import { jsonDepth, MAX_CONTEXT_DEPTH } from './depth.js';
import { ERROR_CODE_NAMES } from './errors.js';
import { canonicalIdentity, Identity } from './identity.js';

/** `action_id` is used as a NATS subject token: no dots, wildcards or spaces. */
export const ACTION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
export const ActionId = z
  .string()
  .regex(
    ACTION_ID_PATTERN,
    'must be 1-128 characters of letters, digits, "_" or "-", starting with a letter or digit',
  );
export type ActionId = z.infer<typeof ActionId>;

/** Maximum encoded size of any message entering a service. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Longest approval window a request or policy may ask for: 7 days. */
export const MAX_TIMEOUT_SECONDS = 604_800;

export const Timestamp = z.iso.datetime({ offset: true });
/**
 * Free-form details of the action. Known keys are type-checked because the policy reads them;
 * any other key passes through untouched.
 */
export const RequestContext = z
  .looseObject({
    amount: z.number().finite().nonnegative().optional(),
    currency: z.string().max(16).optional(),
    environment: z.string().max(64).optional(),
    bulk: z.boolean().optional(),
    item_count: z.number().int().nonnegative().optional(),
    resource: z.string().max(1024).optional(),
    command: z.string().max(8192).optional(),
    owner: z.string().max(256).optional(),
  })
  .refine((context) => jsonDepth(context, MAX_CONTEXT_DEPTH) <= MAX_CONTEXT_DEPTH, {
    message: `must not be nested deeper than ${MAX_CONTEXT_DEPTH} levels`,
  });
export type RequestContext = z.infer<typeof RequestContext>;

export const ApprovalRequest = z.strictObject({
  action_id: ActionId,
  action_type: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^\p{Cc}\s]+$/u, 'must not contain spaces or control characters'),
  description: z.string().min(1).max(2000),
  context: RequestContext.default({}),
  requested_by: Identity,
  run_id: z.string().min(1).max(256).optional(),
  timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
});
/** What a requester sends (before defaults are applied). */
export type ApprovalRequestInput = z.input<typeof ApprovalRequest>;
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

export const ApprovalStatus = z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled']);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;
export const TERMINAL_STATUSES = ['approved', 'rejected', 'expired', 'cancelled'] as const;

export const PolicyOutcome = z.enum(['auto_approve', 'needs_approval', 'deny']);
export type PolicyOutcome = z.infer<typeof PolicyOutcome>;
export const Risk = z.enum(['low', 'medium', 'high', 'critical']);
export type Risk = z.infer<typeof Risk>;

export const Reason = z.object({ code: z.string().min(1), message: z.string() });
export type Reason = z.infer<typeof Reason>;

/** What the policy's decision entrypoint returns, before the service stamps it. */
export const PolicyResult = z.object({
  outcome: PolicyOutcome,
  reasons: z.array(Reason),
  risk: Risk,
  required_approvals: z.number().int().min(1),
  approver_roles: z.array(z.string()),
  timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS),
  notify: z.array(z.string()),
  /** Approvers who have not voted are reminded this long after the request, and every interval after. */
  remind_after_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
  /** This long after the request, a still pending approval escalates to `escalate_to`. */
  escalate_after_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
  /** Who an escalation adds as approvers: roles (their members) and people. */
  escalate_to: z.object({ roles: z.array(z.string()), people: z.array(z.string()) }).optional(),
  /** How far an escalation moves the deadline (0 or absent: not at all). */
  escalation_extends_seconds: z.number().int().min(0).max(MAX_TIMEOUT_SECONDS).optional(),
  /** The most an approver may extend the deadline by, once (absent: no extension). */
  max_extension_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
});
export type PolicyResult = z.infer<typeof PolicyResult>;

export const PolicyDecision = PolicyResult.extend({
  revision: z.string().min(1),
  decision_id: z.string().min(1),
  /** The directory file revision whose roles the policy read (bypass roles). */
  directory_revision: z.string().min(1).optional(),
});
export type PolicyDecision = z.infer<typeof PolicyDecision>;

export const Vote = z.object({
  /** Who cast the vote: the identity the credential proved. */
  voter: z.string(),
  approved: z.boolean(),
  reason: z.string().nullable(),
  at: Timestamp,
  /**
   * Set when `voter` voted as the delegate of this person (a delegation in force): the vote
   * counts as that person's. Optional so records written before delegation existed still parse.
   */
  on_behalf_of: z.string().nullable().optional(),
});
export type Vote = z.infer<typeof Vote>;

export const Approval = z.object({
  action_id: ActionId,
  action_type: z.string(),
  description: z.string(),
  context: z.record(z.string(), z.unknown()),
  requested_by: z.string(),
  run_id: z.string().nullable(),
  status: ApprovalStatus,
  created_at: Timestamp,
  expires_at: Timestamp,
  decided_at: Timestamp.nullable(),
  decided_by: z.string().nullable(),
  decision_reason: z.string().nullable(),
  policy: PolicyDecision,
  votes: z.array(Vote),
  required_approvals: z.number().int().min(1),
  /**
   * sha256 hex of the canonical JSON of the request this approval answers (docs/contract.md,
   * "Request hash"). Requesters compare it with the hash of what they sent. Optional only so
   * events written before it existed still parse; the service always fills it.
   */
  request_hash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * The decision receipt (docs/contract.md, "Receipts"): a compact JWS (EdDSA) the service signs
   * in the transaction that makes the approval terminal, over its action_id, request_hash,
   * status, votes and policy revision. Null while pending; absent on records written before
   * receipts existed. Verify it against the JWKS (`approval.keys`, `/.well-known/jwks.json`).
   */
  receipt: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a compact JWS')
    .nullable()
    .optional(),
  /**
   * Set once the approval escalated (the policy's `escalate_after_seconds` passed while it was
   * pending): the roles and people added as approvers, which the authorize policy honours.
   */
  escalation: z.object({ at: Timestamp, roles: z.array(z.string()), people: z.array(z.string()) }).optional(),
  /** Set once an approver extended the deadline (once per approval, within the policy's limit). */
  extension: z.object({ by: z.string(), seconds: z.number().int(), at: Timestamp }).optional(),
});
export type Approval = z.infer<typeof Approval>;

/** One row of an approval's append-only audit trail, hash-chained to the row before it. */
export const AuditEvent = z.object({
  seq: z.number().int().min(1),
  event: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  at: Timestamp,
  prev_hash: z.string(),
  hash: z.string(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

export const ApprovalWithHistory = Approval.extend({ history: z.array(AuditEvent) });
export type ApprovalWithHistory = z.infer<typeof ApprovalWithHistory>;

// ---- command requests and replies -------------------------------------------------------

const OptionalReason = z.string().max(2000).optional();

export const DecideRequest = z.strictObject({
  action_id: ActionId,
  approved: z.boolean(),
  /**
   * The actor is the identity the credential proves (on NATS the subject's, on HTTP the
   * token's or session's). This field may repeat it; naming someone else is `actor_mismatch`.
   * Only a directory service that `relays_decisions` names the person it relays for here.
   */
  decided_by: Identity.optional(),
  reason: OptionalReason,
  /** A relayed decision: the file-based channel the person decided on (the notifier's markdown). */
  channel: z.string().min(1).max(128).optional(),
  /**
   * Vote as the delegate of this person: allowed only while a delegation from them to the actor
   * is in force (see Delegation), and the policy then checks the delegator's roles, never the
   * actor's. The requester can never approve through a delegate.
   */
  on_behalf_of: Identity.optional(),
});
export type DecideRequest = z.infer<typeof DecideRequest>;

export const CancelRequest = z.strictObject({
  action_id: ActionId,
  cancelled_by: Identity.optional(),
  reason: OptionalReason,
});
export type CancelRequest = z.infer<typeof CancelRequest>;

/** An approver moves a pending approval's deadline later, once, within the policy's limit. */
export const ExtendRequest = z.strictObject({
  action_id: ActionId,
  seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS),
  /** May repeat the actor; naming someone else is `actor_mismatch`. */
  extended_by: Identity.optional(),
  reason: OptionalReason,
});
export type ExtendRequest = z.infer<typeof ExtendRequest>;

export const GetRequest = z.strictObject({ action_id: ActionId });
export type GetRequest = z.infer<typeof GetRequest>;

/** A list filter: PostgreSQL cannot store NUL, so a filter holding one is refused, not run. */
const Filter = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\0]*$/, 'must not contain NUL');

export const ListRequest = z.strictObject({
  status: ApprovalStatus.optional(),
  run_id: Filter(256).optional(),
  action_type: Filter(64).optional(),
  /** Compared canonically (`Dave` finds dave's); a name that is no identity matches nothing. */
  requested_by: Filter(256)
    .transform((name) => {
      const canonical = canonicalIdentity(name);
      return canonical.ok ? canonical.identity : name;
    })
    .optional(),
  limit: z.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(512).optional(),
});
export type ListRequestInput = z.input<typeof ListRequest>;
export type ListRequest = z.infer<typeof ListRequest>;

export const ListResponse = z.object({ items: z.array(Approval), next_cursor: z.string().nullable() });
export type ListResponse = z.infer<typeof ListResponse>;

/**
 * A page of stored policy inputs for a replay (`pnpm policy replay`): the request each approval's
 * decision was made on, oldest first, with the decision the live policy gave then. Read-only;
 * NATS permissions give it to operators only (it reads every requester's context).
 */
export const PolicyInputsRequest = z.strictObject({
  /** Only approvals created at or after this instant. */
  since: Timestamp.optional(),
  action_type: Filter(64).optional(),
  limit: z.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).max(512).optional(),
});
export type PolicyInputsRequestInput = z.input<typeof PolicyInputsRequest>;
export type PolicyInputsRequest = z.infer<typeof PolicyInputsRequest>;

/** One stored policy input: the request as the policy evaluated it, `now`, and its decision then. */
export const StoredPolicyInput = z.object({
  action_id: ActionId,
  /**
   * The request sent to `policy.evaluate`, as recorded (validated and canonicalised at intake,
   * so not parsed again: the policy must see the bytes it saw then).
   */
  request: z.object({
    action_id: ActionId,
    action_type: z.string(),
    description: z.string(),
    context: z.record(z.string(), z.unknown()),
    requested_by: z.string(),
    run_id: z.string().optional(),
    timeout_seconds: z.number().int().optional(),
  }),
  /** When the approval was recorded: the `now` a replay evaluates with. */
  now: Timestamp,
  /** The decision recorded then, with the revision that made it. */
  decision: PolicyDecision,
});
export type StoredPolicyInput = z.infer<typeof StoredPolicyInput>;

export const PolicyInputsResponse = z.object({
  items: z.array(StoredPolicyInput),
  next_cursor: z.string().nullable(),
});
export type PolicyInputsResponse = z.infer<typeof PolicyInputsResponse>;

export const StatsRequest = z.strictObject({});
export type StatsRequest = z.infer<typeof StatsRequest>;

export const StatsResponse = z.object({
  by_status: z.record(ApprovalStatus, z.number().int().min(0)),
  pending: z.number().int().min(0),
  oldest_pending_age_seconds: z.number().min(0).nullable(),
  median_decision_seconds: z.number().min(0).nullable(),
});
export type StatsResponse = z.infer<typeof StatsResponse>;

export const ExecutionOutcome = z.enum(['executed', 'failed']);
export const ReportRequest = z.strictObject({
  action_id: ActionId,
  outcome: ExecutionOutcome,
  detail: z.string().max(4000).optional(),
  /** May repeat the actor (the credential's identity); naming someone else is `actor_mismatch`. */
  reported_by: Identity.optional(),
  /** SHA-256 (hex) of the receipt the requester verified before running: recorded with the report. */
  receipt_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in lowercase hex')
    .optional(),
});
export type ReportRequest = z.infer<typeof ReportRequest>;

/** `policy.evaluate` takes the approval request; `now` is supplied by the policy service. */
export const EvaluateRequest = ApprovalRequest;
export type EvaluateRequest = z.infer<typeof EvaluateRequest>;

/** What the policy authorizes: a vote, a resume of a paused task, a cancel or an execution report. */
export const AuthorizeAction = z.enum(['decide', 'resume', 'cancel', 'report', 'extend']);
export type AuthorizeAction = z.infer<typeof AuthorizeAction>;

/** A delegation in force, as the policy sees it: whose approvals, and for which role (null: all). */
export const DelegationGrant = z.object({ delegator: z.string(), role: z.string().nullable() });
export type DelegationGrant = z.infer<typeof DelegationGrant>;

export const AuthorizeRequest = z.strictObject({
  action: AuthorizeAction,
  approval: Approval,
  /** The authenticated identity asking to act. */
  actor: Identity,
  /** The person the actor votes for as a delegate (decide only). */
  on_behalf_of: Identity.optional(),
  /**
   * The delegations from `on_behalf_of` to the actor in force now, looked up by the approval
   * service in its table: the policy decides whether they let the actor vote.
   */
  delegations: z.array(DelegationGrant).max(64).optional(),
  /** For `extend`: by how many seconds the actor asks to move the deadline. */
  extend_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
});
export type AuthorizeRequest = z.infer<typeof AuthorizeRequest>;

export const AuthorizeResponse = z.object({
  allowed: z.boolean(),
  reasons: z.array(Reason),
  /** The policy bundle revision that answered, and the directory revision whose roles it read. */
  revision: z.string().min(1).optional(),
  directory_revision: z.string().min(1).optional(),
});
export type AuthorizeResponse = z.infer<typeof AuthorizeResponse>;

export const PolicyInfoRequest = z.strictObject({});
export const PolicyInfo = z.object({
  revision: z.string(),
  /** The directory file revision whose roles the policy serves with. */
  directory_revision: z.string().optional(),
  loaded_at: Timestamp,
  entrypoints: z.array(z.string()),
  source: z.string(),
});
export type PolicyInfo = z.infer<typeof PolicyInfo>;

// ---- delegation ---------------------------------------------------------------------------

/** The longest a delegation may run: 90 days. */
export const MAX_DELEGATION_SECONDS = 90 * 86_400;

/** A role name as the directory spells it. */
const RoleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}\s]+$/u, 'must not contain spaces or control characters');

/**
 * A person's approvals handed to another person for a period: all of them (`role` null) or those
 * needing one role. The delegate votes with `on_behalf_of`; delegations do not chain (a delegate
 * passes on only roles the directory gives them, never roles held by delegation).
 */
export const Delegation = z.object({
  id: z.uuid(),
  delegator: z.string(),
  delegate: z.string(),
  role: z.string().nullable(),
  starts_at: Timestamp,
  ends_at: Timestamp,
  created_at: Timestamp,
  revoked_at: Timestamp.nullable(),
  revoked_by: z.string().nullable(),
});
export type Delegation = z.infer<typeof Delegation>;

export const DelegateRequest = z.strictObject({
  /** May repeat the actor (a person delegates only their own approvals); naming someone else is `actor_mismatch`. */
  delegator: Identity.optional(),
  delegate: Identity,
  /** One of the delegator's directory roles; absent: every approval the delegator may decide. */
  role: RoleName.optional(),
  /** Default: now. */
  starts_at: Timestamp.optional(),
  ends_at: Timestamp,
});
export type DelegateRequest = z.infer<typeof DelegateRequest>;

export const UndelegateRequest = z.strictObject({
  id: z.uuid(),
  /** May repeat the actor: the delegator or the delegate ends a delegation. */
  revoked_by: Identity.optional(),
});
export type UndelegateRequest = z.infer<typeof UndelegateRequest>;

export const ListDelegationsRequest = z.strictObject({
  /** Delegations this person gave or received; absent: everyone's. */
  person: Identity.optional(),
  /** Only those in force now (not revoked, started, not ended). Default false. */
  active: z.boolean().default(false),
});
export type ListDelegationsRequest = z.infer<typeof ListDelegationsRequest>;

export const ListDelegationsResponse = z.object({ items: z.array(Delegation) });
export type ListDelegationsResponse = z.infer<typeof ListDelegationsResponse>;

// ---- notifier administration (ops only: see docs/security.md) ------------------------------

export const DeliveryStatus = z.enum([
  'scheduled',
  'in_progress',
  'delivered',
  'dead',
  'superseded',
  'discarded',
]);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

/** One notification: an event sent to one target of one channel. */
export const DeliveryView = z.object({
  id: z.number().int(),
  event_id: z.string(),
  event_type: z.string(),
  action_id: z.string(),
  channel: z.string(),
  kind: z.string(),
  target: z.string(),
  status: DeliveryStatus,
  attempts: z.number().int().min(0),
  last_error: z.string().nullable(),
  created_at: Timestamp,
  finished_at: Timestamp.nullable(),
});
export type DeliveryView = z.infer<typeof DeliveryView>;

export const DeadLettersRequest = z.strictObject({
  /** Default `dead`. */
  status: DeliveryStatus.default('dead'),
  channel: z.string().min(1).max(128).optional(),
  limit: z.number().int().min(1).max(500).default(50),
});
export type DeadLettersRequest = z.infer<typeof DeadLettersRequest>;

export const ApprovalDeliveriesRequest = z.strictObject({ action_id: ActionId });
export type ApprovalDeliveriesRequest = z.infer<typeof ApprovalDeliveriesRequest>;

export const DeliveryList = z.object({ items: z.array(DeliveryView) });
export type DeliveryList = z.infer<typeof DeliveryList>;

/** Retry or discard: dead (or superseded) deliveries by id. */
export const DeliveryIdsRequest = z.strictObject({ ids: z.array(z.number().int().min(1)).min(1).max(100) });
export type DeliveryIdsRequest = z.infer<typeof DeliveryIdsRequest>;

/** Which ids were acted on, and which were not (no such delivery, or not dead or superseded). */
export const DeliveryIdsResponse = z.object({
  done: z.array(z.number().int()),
  refused: z.array(z.number().int()),
});
export type DeliveryIdsResponse = z.infer<typeof DeliveryIdsResponse>;

export const ChannelHealthRequest = z.strictObject({});
export const ChannelHealth = z.object({
  channels: z.array(
    z.object({
      channel: z.string(),
      kind: z.string(),
      /** Disabled because the receiver answered 410 Gone (enable it again with the dlq CLI). */
      disabled: z.boolean(),
      disabled_reason: z.string().nullable(),
      scheduled: z.number().int().min(0),
      dead: z.number().int().min(0),
      last_delivered_at: Timestamp.nullable(),
    }),
  ),
});
export type ChannelHealth = z.infer<typeof ChannelHealth>;

export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(ERROR_CODE_NAMES),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- events -------------------------------------------------------------------------------

/**
 * `approval.reminder`: approvers who have not voted are asked again (one event per interval);
 * `approval.escalated`: the approval escalated (its record carries `escalation`).
 */
export const ApprovalEventType = z.enum([
  'approval.pending',
  'approval.decided',
  'approval.reminder',
  'approval.escalated',
]);
export type ApprovalEventType = z.infer<typeof ApprovalEventType>;

/** The envelope version producers write; see `decodeApprovalEvent` for what readers accept. */
export const APPROVAL_EVENT_VERSION = 1;

/**
 * What `approval.pending.<id>` and `approval.decided.<id>` carry. `id` is the event id
 * (`approvalEventId`: `<action_id>.pending` or `<action_id>.decided`, not the outbox row's id),
 * also sent as `Nats-Msg-Id`, so consumers can deduplicate side effects on it. An envelope
 * without `version` was written before the field existed and reads as version 1. Write and
 * read envelopes with `encodeApprovalEvent` and `decodeApprovalEvent`.
 */
export const ApprovalEvent = z.object({
  version: z.literal(APPROVAL_EVENT_VERSION).default(APPROVAL_EVENT_VERSION),
  id: z.string().min(1),
  type: ApprovalEventType,
  occurred_at: Timestamp,
  data: Approval,
});
export type ApprovalEvent = z.infer<typeof ApprovalEvent>;

/** Published on `approval.invalid` for an intake message that could not be addressed. */
export const InvalidMessageEvent = z.object({
  error: ErrorBody.shape.error,
  raw: z.string(),
  received_at: Timestamp,
});
export type InvalidMessageEvent = z.infer<typeof InvalidMessageEvent>;

/** Standard Webhooks body; `webhook-id` header is the event id. */
export const WebhookBody = z.object({
  type: ApprovalEventType,
  timestamp: Timestamp,
  data: Approval,
});
export type WebhookBody = z.infer<typeof WebhookBody>;
