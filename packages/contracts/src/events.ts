/**
 * The approval event: its id, and the one way to write and read its envelope (`ApprovalEvent`
 * in schemas.ts). Every producer and consumer goes through here, so the version rule lives in
 * one place.
 */
import { CountersignError, type FieldIssue } from './errors.js';
import { fieldIssues } from './parse.js';
import { APPROVAL_EVENT_VERSION, type Approval, ApprovalEvent, type ApprovalEventType } from './schemas.js';

/**
 * Which of an approval's events: the one asking people to decide, the outcome, a reminder to
 * those who have not voted (one per interval), or its escalation.
 */
export type ApprovalEventKind = 'pending' | 'decided' | 'reminder' | 'escalated';

/**
 * The event id (`Nats-Msg-Id`, the envelope's `id`, the webhooks' `webhook-id`): one per
 * approval and kind, which the outbox guarantees, and unique across databases. The outbox
 * row's serial id is not: a restored or new database reuses ids already published, and
 * JetStream would then drop new events as duplicates.
 */
export function approvalEventId(actionId: string, kind: ApprovalEventKind, round?: number): string {
  // Reminders repeat: each interval's is its own event (`<action_id>.reminder.2`).
  return kind === 'reminder' ? `${actionId}.reminder.${round ?? 1}` : `${actionId}.${kind}`;
}

export function approvalEventType(kind: ApprovalEventKind): ApprovalEventType {
  return `approval.${kind}`;
}

/** The envelope's fields besides the approval; the encoders add the version. */
export interface ApprovalEventHead {
  id: string;
  type: ApprovalEventType;
  /** ISO 8601 timestamp. */
  occurred_at: string;
}

/**
 * Encodes an envelope around an approval that is JSON text already (the outbox stores it so).
 * The text is spliced in as it is: the relay publishes thousands of events a second, and a
 * parse plus a stringify of every approval would be most of its CPU. The caller vouches that
 * `approvalJson` is one Approval as JSON; readers check it with `decodeApprovalEvent`. (`type`
 * is one of a few fixed words and needs no escaping; the id and time are quoted by JSON.stringify.)
 */
export function encodeApprovalEventFromJson(head: ApprovalEventHead, approvalJson: string): string {
  return `{"version":${APPROVAL_EVENT_VERSION},"id":${JSON.stringify(head.id)},"type":"${head.type}","occurred_at":${JSON.stringify(head.occurred_at)},"data":${approvalJson}}`;
}

/**
 * Encodes an envelope at the current version (whatever version an event passed in was read
 * as). One line of JSON: no raw newlines, so it also fits an SSE `data:` field.
 */
export function encodeApprovalEvent(event: ApprovalEventHead & { data: Approval }): string {
  return encodeApprovalEventFromJson(event, JSON.stringify(event.data));
}

/**
 * Why a message is not an event a reader can use: not JSON, a version this reader does not
 * know (written by a newer producer: upgrade the reader), or not the envelope's shape.
 */
export type ApprovalEventRefusal = 'not_json' | 'unsupported_version' | 'invalid';

/** A decoded event, or why the message is not one (never thrown). */
export type ApprovalEventResult =
  | { ok: true; event: ApprovalEvent }
  | { ok: false; reason: ApprovalEventRefusal; error: CountersignError };

const decoder = new TextDecoder();

/**
 * Reads an event message: one JSON.parse and one schema check. An envelope without `version`
 * (written before the field existed, as events already in the stream during a rolling upgrade
 * are) reads as version 1; any other version is refused with an `invalid_request` error naming
 * the `version` field, because its fields may mean something else. Never throws.
 */
export function decodeApprovalEvent(data: Uint8Array | string): ApprovalEventResult {
  const text = typeof data === 'string' ? data : decoder.decode(data);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return refuse('not_json', `approval event is not valid JSON: ${(err as Error).message}`, [
      { path: '(root)', message: 'not valid JSON' },
    ]);
  }
  return checkApprovalEvent(value);
}

/**
 * `decodeApprovalEvent` for a value parsed already (an event stored as jsonb): the same
 * version rule and schema check.
 */
export function checkApprovalEvent(value: unknown): ApprovalEventResult {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'version')) {
    const version = (value as { version: unknown }).version;
    if (version !== APPROVAL_EVENT_VERSION) {
      const shown = String(JSON.stringify(version)).slice(0, 40);
      return refuse(
        'unsupported_version',
        `unsupported approval event version ${shown}: this reader understands version ${APPROVAL_EVENT_VERSION} (an envelope without "version" is version 1)`,
        [{ path: 'version', message: `unsupported version ${shown}; supported: ${APPROVAL_EVENT_VERSION}` }],
        { supported_versions: [APPROVAL_EVENT_VERSION] },
      );
    }
  }
  const parsed = ApprovalEvent.safeParse(value);
  if (!parsed.success) {
    const fields = fieldIssues(parsed.error);
    const summary = fields
      .slice(0, 5)
      .map((f) => `${f.path}: ${f.message}`)
      .join('; ');
    return refuse('invalid', `not an ApprovalEvent: ${summary}`, fields);
  }
  return { ok: true, event: parsed.data };
}

function refuse(
  reason: ApprovalEventRefusal,
  message: string,
  fields: FieldIssue[],
  extra: Record<string, unknown> = {},
): ApprovalEventResult {
  return { ok: false, reason, error: new CountersignError('invalid_request', message, { fields, ...extra }) };
}
