/**
 * The approval lifecycle: the one code path for submit (intake stream, `approval.submit` and
 * the HTTP API), decide, cancel, report and expire. Business rules and SQL live here, one
 * module per concern; transports (NATS endpoints, the intake consumer, the HTTP routes and
 * pages) only translate. Every state change writes its audit events and its outbox event in the
 * same transaction as the change itself, and the lifecycle records its decision metrics itself.
 *
 * submission.ts, submit.ts, invalid.ts, new-approval.ts, write-batch.ts: submit.
 * transitions.ts: terminal transitions and the row lock commands take. decide.ts, cancel.ts,
 * report.ts: the commands. expiry.ts: deadlines. follow-ups.ts: reminders and escalation. outbox-rows.ts: the events a change writes.
 * identities.ts, authorize.ts: who acts and whether the policy lets them (every door).
 * delegations.ts: approvals handed to a delegate for a period (votes on_behalf_of).
 * storable.ts, clock.ts, actors.ts, deps.ts: what they share.
 */
export { Actors } from './actors.js';
export { authorize, TASK_PAUSE } from './authorize.js';
export { cancel } from './cancel.js';
export { type DecideInput, type DecideOptions, decide } from './decide.js';
export { delegate, grantsInForce, listDelegations, undelegate } from './delegations.js';
export type { LifecycleDeps, LifecycleMetrics } from './deps.js';
export { expire, expireAllDue, expireDue } from './expiry.js';
export { extend } from './extend.js';
export { escalateDue, remindDue } from './follow-ups.js';
export { actorMismatch, admissionRefusal, type BoundActor, bindActor, knownPrincipal } from './identities.js';
export { invalidRequestDecision } from './invalid.js';
export { type ReportInput, report } from './report.js';
export { containsUnstorable, storable } from './storable.js';
export { requestHash, type SubmitItem, type SubmitOutcome } from './submission.js';
export { idempotencyConflict, submit, submitMany } from './submit.js';
export { closedError } from './transitions.js';
