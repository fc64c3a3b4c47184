import { randomUUID } from 'node:crypto';
import {
  type Approval,
  ApprovalRequest,
  type ApprovalRequestInput,
  type ApprovalWithHistory,
  type AuditEvent,
  canonicalIdentity,
  isCountersignError,
  type Jwks,
  type ListRequestInput,
  type ListResponse,
  type PolicyDecision,
  parseWith,
  type ReceiptClaims,
  type RequestOf,
  requestHash,
  type StatsResponse,
  Subjects,
} from '@countersign/contracts';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { type CallOptions, callEndpoint } from './call.js';
import { IdempotencyConflictError, outcomeOf, typedError } from './errors.js';
import { checkApprovalReceipt, ReceiptKeys } from './receipts.js';
import { SpanKind, traced, traceHeaders } from './tracing.js';
import { ReconnectWatcher, type WaitLogger, type WaitOptions, waitForDecided } from './wait.js';

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
  /** Where ignored decided events are reported (forged, or for another request). Default: console. */
  logger?: WaitLogger;
  /**
   * The keys decision receipts must be signed with (a JWK Set, e.g. the service's
   * `/.well-known/jwks.json` saved at deploy time). When absent, the client reads them from the
   * service (`approval.keys`), caches them by kid and reads them again once when a receipt names
   * an unknown kid. Pinned keys are never refreshed: add the new key before rotating.
   */
  receiptKeys?: Jwks;
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
  /**
   * True when the stream had already seen this action_id within its duplicate window. The
   * client then checked the stored approval (when there is one yet) holds this very request.
   */
  duplicate: boolean;
  /** The hash of the request sent; its approval carries the same `request_hash`. */
  request_hash: string;
}

/** What a span of the SDK says about a request (never its description or context: they may be private). */
function spanAttributes(request: ApprovalRequest): Record<string, string> {
  return {
    'countersign.action_id': request.action_id,
    'countersign.action_type': request.action_type,
    'countersign.requested_by': request.requested_by,
  };
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
  private readonly logger: WaitLogger;
  private readonly receiptKeys: ReceiptKeys;
  /** The canonical identity of the `identity` option, if given. */
  readonly identity: string | undefined;

  constructor(
    readonly nc: NatsConnection,
    options: ClientOptions = {},
  ) {
    this.js = jetstream(nc);
    this.reconnects = new ReconnectWatcher(nc);
    this.callOptions = { timeout: options.timeout ?? 5000 };
    this.logger = options.logger ?? { warn: (fields, message) => console.warn(message, fields) };
    this.identity = options.identity === undefined ? undefined : canonical(options.identity, 'identity');
    this.receiptKeys = new ReceiptKeys(
      options.receiptKeys ? undefined : () => callEndpoint(this.nc, 'keys', {}, this.callOptions),
      options.receiptKeys,
    );
  }

  /**
   * Checks the receipt of a terminal approval: signed by a trusted key (see the `receiptKeys`
   * option) and attesting this approval's action_id and status, and `requestHash` when given.
   * Resolves with its claims; rejects with ReceiptInvalidError (with a `code`) otherwise.
   */
  verifyReceipt(approval: Approval, requestHash?: string): Promise<ReceiptClaims> {
    return checkApprovalReceipt(this.receiptKeys, approval, requestHash);
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
   * request fails here with the field named instead of as a rejected approval later. When the
   * stream calls it a duplicate, the stored approval must hold this very request (same
   * `request_hash`): otherwise IdempotencyConflictError, since the id was used for something else.
   */
  async request(input: NewApprovalRequest): Promise<RequestReceipt> {
    const request = this.newRequest(input);
    const receipt = await this.publish(request);
    if (receipt.duplicate) {
      const conflict = await this.conflictOf(request, receipt.request_hash);
      if (conflict) throw conflict;
    }
    return receipt;
  }

  private publish(request: ApprovalRequest): Promise<RequestReceipt> {
    const subject = Subjects.requestedBy(request.requested_by);
    const request_hash = requestHash(request);
    // A producer span whose context travels in the message: the intake continues this trace.
    return traced(`${Subjects.requested} send`, SpanKind.PRODUCER, spanAttributes(request), async () => {
      const headers = traceHeaders();
      try {
        const ack = await this.js.publish(subject, JSON.stringify(request), {
          msgID: request.action_id,
          timeout: this.callOptions.timeout,
          ...(headers ? { headers } : {}),
        });
        return { action_id: request.action_id, seq: ack.seq, duplicate: ack.duplicate, request_hash };
      } catch (err) {
        throw typedError(
          'unavailable',
          `the intake stream did not accept ${request.action_id}: ${String(err)}`,
          { subject },
          { cause: err },
        );
      }
    });
  }

  /**
   * The IdempotencyConflictError when the approval stored under the request's action_id answers
   * another request, undefined when it is this one or none is stored yet (or the service does
   * not answer: the wait, bound to the hash, still never takes another request's decision).
   */
  private async conflictOf(
    request: ApprovalRequest,
    hash: string,
  ): Promise<IdempotencyConflictError | undefined> {
    let stored: Approval;
    try {
      stored = await this.get(request.action_id);
    } catch {
      return undefined;
    }
    if (stored.request_hash === hash) return undefined;
    const taken = stored.requested_by !== request.requested_by;
    return new IdempotencyConflictError(
      'idempotency_conflict',
      taken
        ? `action_id ${request.action_id} is held by another requester (${stored.requested_by})`
        : `action_id ${request.action_id} was already submitted with different content`,
      {
        action_id: request.action_id,
        request_hash: hash,
        stored_request_hash: stored.request_hash ?? null,
        reasons: [
          taken
            ? { code: 'action_id_taken', message: 'another requester filed this action_id first' }
            : { code: 'content_differs', message: 'the stored request differs from the one sent' },
        ],
      },
    );
  }

  /**
   * Waits for the decision by push. Resolves with the approval when approved; rejects with
   * ApprovalRejectedError, ApprovalExpiredError or ApprovalCancelledError otherwise, and with
   * WaitTimeoutError when the caller's own `timeout` runs out (the approval stays pending), and
   * with a CountersignError naming `version` when the decided event was written in an envelope
   * version this client does not read (upgrade the client). A decision whose receipt does not
   * verify (see `verifyReceipt`) rejects with ReceiptInvalidError: it is no decision.
   */
  waitForDecision(actionId: string, options: WaitOptions = {}): Promise<Approval> {
    return traced('countersign wait', SpanKind.INTERNAL, { 'countersign.action_id': actionId }, async () => {
      const approval = await waitForDecided(
        this.nc,
        await this.manager(),
        this.reconnects,
        actionId,
        options,
        {
          logger: this.logger,
        },
      );
      await this.verifyReceipt(approval, options.requestHash);
      return outcomeOf(approval);
    });
  }

  /**
   * Like waitForDecision, but resolves with any terminal approval instead of throwing (a receipt
   * that does not verify still rejects with ReceiptInvalidError).
   */
  async waitForOutcome(actionId: string, options: WaitOptions = {}): Promise<Approval> {
    const approval = await waitForDecided(this.nc, await this.manager(), this.reconnects, actionId, options, {
      logger: this.logger,
    });
    await this.verifyReceipt(approval, options.requestHash);
    return approval;
  }

  /**
   * request + waitForDecision, bound to the request: only an approval whose `request_hash` is
   * the hash of what was sent resolves it. When the action_id holds another request (filed first
   * by anyone, with any content), it rejects with IdempotencyConflictError instead of waiting on
   * or taking that request's decision. The decision's receipt must verify and attest this
   * action_id, this request's hash and the status: otherwise ReceiptInvalidError.
   */
  requestAndWait(input: NewApprovalRequest, options: WaitOptions = {}): Promise<Approval> {
    const request = this.newRequest(input);
    // One span from the request to the wake-up: the approval's whole trace hangs under it.
    return traced('countersign request and wait', SpanKind.INTERNAL, spanAttributes(request), async () => {
      const { request_hash } = await this.publish(request);
      // Checked whatever the stream said: past its duplicate window the intake records a
      // conflicting request as an audited conflict only, and no decided event follows.
      const conflict = await this.conflictOf(request, request_hash);
      if (conflict) throw conflict;
      const manager = await this.manager();
      const approval = await traced(
        'countersign wait',
        SpanKind.INTERNAL,
        { 'countersign.action_id': request.action_id },
        () =>
          waitForDecided(
            this.nc,
            manager,
            this.reconnects,
            request.action_id,
            { ...options, requestHash: request_hash },
            { logger: this.logger, onMismatch: () => this.conflictOf(request, request_hash) },
          ),
      );
      await this.verifyReceipt(approval, request_hash);
      return outcomeOf(approval);
    });
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
