import { describe, expect, it } from 'vitest';
import { CountersignError } from './errors.js';
import {
  type ApprovalEventRefusal,
  type ApprovalEventResult,
  approvalEventId,
  approvalEventType,
  checkApprovalEvent,
  decodeApprovalEvent,
  encodeApprovalEvent,
  encodeApprovalEventFromJson,
} from './events.js';
import { APPROVAL_EVENT_VERSION, type Approval } from './schemas.js';

const approval: Approval = {
  action_id: 'refund-1234',
  action_type: 'refund',
  description: 'Refund order 1234',
  context: { amount: 1500, currency: 'EUR', note: 'line\nbreak "quoted"' },
  requested_by: 'billing-job',
  run_id: null,
  status: 'approved',
  created_at: '2026-11-21T20:04:00.000Z',
  expires_at: '2026-11-21T22:04:00.000Z',
  decided_at: '2026-11-21T20:04:12.848Z',
  decided_by: 'frank',
  decision_reason: 'customer verified',
  policy: {
    outcome: 'needs_approval',
    reasons: [{ code: 'large_refund', message: 'refund over 1,000' }],
    risk: 'medium',
    required_approvals: 1,
    approver_roles: ['finance'],
    timeout_seconds: 7200,
    notify: ['finance'],
    revision: 'sha256:abc',
    decision_id: '01J9ZQ',
  },
  votes: [{ voter: 'frank', approved: true, reason: 'customer verified', at: '2026-11-21T20:04:12.848Z' }],
  required_approvals: 1,
};

const head = {
  id: approvalEventId(approval.action_id, 'decided'),
  type: approvalEventType('decided'),
  occurred_at: '2026-11-21T20:04:12.848Z',
};

function decoded(result: ApprovalEventResult) {
  if (!result.ok) throw new Error(`expected an event, got: ${result.error.message}`);
  return result.event;
}

function refused(result: ApprovalEventResult, reason: ApprovalEventRefusal): CountersignError {
  if (result.ok) throw new Error('expected a refusal, got an event');
  expect(result.reason).toBe(reason);
  expect(result.error).toBeInstanceOf(CountersignError);
  expect(result.error.code).toBe('invalid_request');
  return result.error;
}

const paths = (error: CountersignError) =>
  ((error.details?.fields ?? []) as { path: string }[]).map((f) => f.path);

describe('approval event id', () => {
  it('is the action id and the kind, the same for every copy of one event', () => {
    expect(approvalEventId('refund-1234', 'pending')).toBe('refund-1234.pending');
    expect(approvalEventId('refund-1234', 'decided')).toBe('refund-1234.decided');
    expect(approvalEventType('pending')).toBe('approval.pending');
    expect(approvalEventType('decided')).toBe('approval.decided');
  });
});

describe('encodeApprovalEvent and decodeApprovalEvent', () => {
  it('round-trips an event, at the current version', () => {
    const text = encodeApprovalEvent({ ...head, data: approval });
    expect(JSON.parse(text)).toMatchObject({ version: APPROVAL_EVENT_VERSION, id: 'refund-1234.decided' });
    expect(decoded(decodeApprovalEvent(text))).toEqual({ version: 1, ...head, data: approval });
    expect(decoded(decodeApprovalEvent(new TextEncoder().encode(text))).data).toEqual(approval);
  });

  it('encodes from the approval JSON text, byte for byte as from the object', () => {
    // The relay splices the stored JSON in; whatever its spacing, it reads back the same.
    const spaced = JSON.stringify(approval, null, 1).replace(/\n/g, ' ');
    const fromJson = encodeApprovalEventFromJson(head, JSON.stringify(approval));
    expect(fromJson).toBe(encodeApprovalEvent({ ...head, data: approval }));
    expect(decoded(decodeApprovalEvent(encodeApprovalEventFromJson(head, spaced))).data).toEqual(approval);
  });

  it('writes one line, so an encoded event fits an SSE data field', () => {
    expect(encodeApprovalEvent({ ...head, data: approval })).not.toMatch(/[\r\n]/);
  });

  it('reads an envelope without a version (written before the field existed) as version 1', () => {
    const legacy = JSON.stringify({ ...head, data: approval });
    const event = decoded(decodeApprovalEvent(legacy));
    expect(event.version).toBe(1);
    expect(event.data).toEqual(approval);
    expect(decoded(checkApprovalEvent(JSON.parse(legacy))).version).toBe(1);
  });

  it('refuses an unknown version, naming the field, without judging the rest', () => {
    for (const version of [2, 0, '1', null, { major: 1 }]) {
      const error = refused(decodeApprovalEvent(JSON.stringify({ version, id: 'x' })), 'unsupported_version');
      expect(error.message).toMatch(/unsupported approval event version/);
      expect(paths(error)).toEqual(['version']);
      expect(error.details?.supported_versions).toEqual([1]);
    }
  });

  it('refuses malformed JSON with a structured error', () => {
    for (const text of ['', '{"version":1,', 'not json', new Uint8Array([0xff, 0xfe])]) {
      const error = refused(decodeApprovalEvent(text), 'not_json');
      expect(error.message).toMatch(/not valid JSON/);
      expect(paths(error)).toEqual(['(root)']);
    }
  });

  it('refuses the wrong shape, naming every bad field', () => {
    const wrong = {
      version: 1,
      id: '',
      type: 'approval.maybe',
      occurred_at: 'yesterday',
      data: { ...approval },
    };
    const error = refused(decodeApprovalEvent(JSON.stringify(wrong)), 'invalid');
    expect(error.message).toMatch(/^not an ApprovalEvent: /);
    expect(paths(error)).toEqual(expect.arrayContaining(['id', 'type', 'occurred_at']));
    const badData = refused(
      decodeApprovalEvent(
        encodeApprovalEventFromJson(head, JSON.stringify({ ...approval, status: 'maybe' })),
      ),
      'invalid',
    );
    expect(paths(badData)).toEqual(['data.status']);
    for (const value of [null, 42, 'event', [], {}]) {
      expect(refused(checkApprovalEvent(value), 'invalid').message).toMatch(/^not an ApprovalEvent/);
    }
  });
});
