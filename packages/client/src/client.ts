import { randomUUID } from 'node:crypto';
import {
  type Approval,
  ApprovalRequest,
  type ApprovalRequestInput,
  type ApprovalWithHistory,
  type AuditEvent,
  canonicalIdentity,
  isCountersignError,
  type ListRequestInput,
  type ListResponse,
  type PolicyDecision,
  parseWith,
  type RequestOf,
  type StatsResponse,
  Subjects,
} from '@countersign/contracts';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { type CallOptions, callEndpoint } from './call.js';
import { outcomeOf, typedError } from './errors.js';
import { ReconnectWatcher, type WaitOptions, waitForDecided } from './wait.js';

export interface ClientOptions {
  /** Per-command reply timeout in milliseconds. Default 5000. */
  timeout?: number;
  /**
   * The identity this connection's NATS user is in the directory (`billing-job`, `frank`). Requests
   * and commands are sent under it (`approval.requested.<identity>`, `approval.decide.<identity>`),
   * where NATS lets only that user publish. When absent, each call uses the identity its input
   * names (`requested_by`, `decided_by`, …).
   */
  identity?: string;
}

/**
 * A request whose action_id may be left out (the client makes one up), and requested_by too when
 * the client has an identity (it is that identity).
 */
export type NewApprovalRequest = Omit<ApprovalRequestInput, 'action_id' | 'requested_by'> & {
  action_id?: string;
  requested_by?: string;
};

export interface RequestReceipt {
  action_id: string;
  /** Stream sequence of the request. */
  seq: number;
  /** True when the stream had already seen this action_id (a retry of the same request). */
  duplicate: boolean;
}

/** Makes a valid action_id from a prefix: subject-token safe, unique. */
export function newActionId(prefix = 'act'): string {
  const clean =
    prefix
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 80) || 'act';
  return `${clean}-${randomUUID()}`;
}

type DecideInput = RequestOf<'decide'>;
type CancelInput = RequestOf<'cancel'>;
type ReportInput = RequestOf<'report'>;

/** The canonical form of an identity, or the typed InvalidRequestError naming `field`. */
function canonical(identity: string, field: string): string {
  const result = canonicalIdentity(identity);
  if (result.ok) return result.identity;
  throw typedError('invalid_request', `invalid request: ${field}: ${result.message}`, {
    fields: [{ path: field, message: result.message }],
  });
}

/** Local validation with the contract's schema, failing with the typed InvalidRequestError. */
function validated(input: ApprovalRequestInput): ApprovalRequest {
  try {
    return parseWith(ApprovalRequest, input);
  } catch (err) {
    if (isCountersignError(err)) throw typedError(err.code, err.message, err.details);
    throw err;
  }
}

/**
 * The requester SDK. It is handed a NATS connection (it never connects itself) and speaks the
 * contract: requests go to the durable intake stream, decisions arrive by push.
 */
export class CountersignClient {
  private readonly js: JetStreamClient;
  private jsm: Promise<JetStreamManager> | undefined;
  private readonly reconnects: ReconnectWatcher;
  private readonly callOptions: CallOptions;
  /** The canonical identity of the `identity` option, if given. */
  readonly identity: string | undefined;

  constructor(
    readonly nc: NatsConnection,
    options: ClientOptions = {},
  ) {
    this.js = jetstream(nc);
    this.reconnects = new ReconnectWatcher(nc);
    this.callOptions = { timeout: options.timeout ?? 5000 };
    this.identity = options.identity === undefined ? undefined : canonical(options.identity, 'identity');
  }

  /** The request to send: validated, with an action_id, and requested by this client's identity. */
  private newRequest(input: NewApprovalRequest): ApprovalRequest {
    const request = validated({
      ...input,
      action_id: input.action_id ?? newActionId(input.action_type),
      requested_by: input.requested_by ?? this.identity ?? '',
    });
    if (this.identity !== undefined && request.requested_by !== this.identity) {
      // The service would refuse it (actor_mismatch) after storing the message; say so now.
      throw typedError(
        'forbidden',
        `requested_by (${request.requested_by}) is not this client's identity (${this.identity})`,
        { reasons: [{ code: 'actor_mismatch', message: 'requested_by names someone else' }] },
      );
    }
    return request;
  }

  /** Who acts in a call: the client's identity, else the one the input names (canonical). */
  private actorFor(named: string | undefined, field: string): CallOptions {
    const actor = this.identity ?? (named === undefined ? undefined : canonical(named, field));
    return actor === undefined ? this.callOptions : { ...this.callOptions, actor };
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= jetstreamManager(this.nc);
    return this.jsm;
  }

  /**
   * Publishes the request to the durable intake (`approval.requested.<identity>`, `Nats-Msg-Id`
   * = action_id) and returns once the stream has stored it. Validated locally first, so a bad
   * request fails here with the field named instead of as a rejected approval later.
   */
  async request(input: NewApprovalRequest): Promise<RequestReceipt> {
    const request = this.newRequest(input);
    const subject = Subjects.requestedBy(request.requested_by);
    try {
      const ack = await this.js.publish(subject, JSON.stringify(request), {
        msgID: request.action_id,
        timeout: this.callOptions.timeout,
      });
      return { action_id: request.action_id, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw typedError(
        'unavailable',
        `the intake stream did not accept ${request.action_id}: ${String(err)}`,
        { subject },
        { cause: err },
      );
    }
  }

  /**
   * Waits for the decision by push. Resolves with the approval when approved; rejects with
   * ApprovalRejectedError, ApprovalExpiredError or ApprovalCancelledError otherwise, and with
   * WaitTimeoutError when the caller's own `timeout` runs out (the approval stays pending), and
   * with a CountersignError naming `version` when the decided event was written in an envelope
   * version this client does not read (upgrade the client).
   */
  async waitForDecision(actionId: string, options: WaitOptions = {}): Promise<Approval> {
    const approval = await waitForDecided(this.nc, await this.manager(), this.reconnects, actionId, options);
    return outcomeOf(approval);
  }

  /** Like waitForDecision, but resolves with any terminal approval instead of throwing. */
  async waitForOutcome(actionId: string, options: WaitOptions = {}): Promise<Approval> {
    return waitForDecided(this.nc, await this.manager(), this.reconnects, actionId, options);
  }

  /** request + waitForDecision. */
  async requestAndWait(input: NewApprovalRequest, options: WaitOptions = {}): Promise<Approval> {
    const { action_id } = await this.request(input);
    return this.waitForDecision(action_id, options);
  }

  /** Synchronous submit over `approval.submit`: answers the record as the service stored it. */
  submit(input: ApprovalRequestInput): Promise<Approval> {
    return callEndpoint(this.nc, 'submit', input, this.actorFor(input.requested_by, 'requested_by'));
  }

  get(actionId: string): Promise<ApprovalWithHistory> {
    return callEndpoint(this.nc, 'get', { action_id: actionId }, this.callOptions);
  }

  list(filter: ListRequestInput = {}): Promise<ListResponse> {
    return callEndpoint(this.nc, 'list', filter, this.callOptions);
  }

  stats(): Promise<StatsResponse> {
    return callEndpoint(this.nc, 'stats', {}, this.callOptions);
  }

  /** A vote (or a task's resume) as the client's identity. */
  decide(request: DecideInput): Promise<Approval> {
    return callEndpoint(this.nc, 'decide', request, this.actorFor(request.decided_by, 'decided_by'));
  }

  cancel(request: CancelInput): Promise<Approval> {
    return callEndpoint(this.nc, 'cancel', request, this.actorFor(request.cancelled_by, 'cancelled_by'));
  }

  /** What the policy would decide for this request, without creating anything. */
  checkPolicy(input: NewApprovalRequest): Promise<PolicyDecision> {
    return callEndpoint(this.nc, 'evaluate', this.newRequest(input), this.callOptions);
  }

  /**
   * Records how an approved action went (`approval.report`): only for approved approvals, only
   * by the requester. It lands in the approval's audit history.
   */
  reportExecution(actionId: string, report: Omit<ReportInput, 'action_id'>): Promise<Approval> {
    return callEndpoint(
      this.nc,
      'report',
      { action_id: actionId, ...report },
      this.actorFor(report.reported_by, 'reported_by'),
    );
  }

  /** The audit history of an approval. */
  async history(actionId: string): Promise<AuditEvent[]> {
    return (await this.get(actionId)).history;
  }
}
