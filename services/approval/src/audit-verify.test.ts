import { Secret } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { type AuditEntry, type ChainEvent, chainAudit } from './audit.js';
import { AuditKeys } from './audit-key.js';
import { type ApprovalAudit, auditApproval, describeFinding } from './audit-verify.js';

const keys = AuditKeys.from(new Secret('v'.repeat(32)));
const at = '2026-01-01T00:00:00.000Z';
const entries: AuditEntry[] = [
  { action_id: 'pay-1', event: 'requested', actor: 'dave', reason: null, data: { request_hash: 'h1' }, at },
  { action_id: 'pay-1', event: 'voted', actor: 'frank', reason: null, data: { approved: true }, at },
  { action_id: 'pay-1', event: 'approved', actor: 'frank', reason: null, data: {}, at },
];
const events: ChainEvent[] = chainAudit(keys.current, entries).map(({ action_id: _, ...e }) => e);

function record(overrides: Partial<ApprovalAudit> = {}): ApprovalAudit {
  return {
    action_id: 'pay-1',
    approval: { action_id: 'pay-1', status: 'approved', request_hash: 'h1', decided_by: 'frank' },
    votes: [{ voter: 'frank', approved: true }],
    events,
    heads: [{ seq: 3, hash: events[2]!.hash, published_at: at }],
    ...overrides,
  };
}

const first = (overrides: Partial<ApprovalAudit>) => {
  const f = auditApproval(record(overrides), keys);
  return f && describeFinding(f);
};

describe('auditApproval', () => {
  it('agrees with a consistent record', () => {
    expect(auditApproval(record(), keys)).toBeUndefined();
  });

  it('names the row that disagrees with the chain', () => {
    const approval = record().approval!;
    expect(first({ approval: { ...approval, status: 'rejected' } })).toBe(
      'pay-1: event 3: the chain says approved, the row rejected',
    );
    expect(first({ approval: { ...approval, request_hash: 'h2' } })).toBe(
      'pay-1: approvals: request_hash differs from the one event 1 recorded',
    );
    expect(first({ approval: { ...approval, decided_by: 'alice' } })).toMatch(
      /^pay-1: approvals: decided_by alice/,
    );
    expect(first({ approval: { ...approval, status: 'pending', decided_by: null } })).toBe(
      'pay-1: event 3: the chain says approved, the row pending',
    );
    expect(first({ votes: [{ voter: 'frank', approved: false }] })).toMatch(
      /^pay-1: event 2: the votes row of frank/,
    );
    expect(first({ votes: [...record().votes, { voter: 'mallory', approved: true }] })).toBe(
      'pay-1: votes(mallory): a vote without its audit event',
    );
    expect(first({ votes: [] })).toBe('pay-1: event 2: the vote of frank has no votes row');
  });

  it('names the first event that disagrees with the published heads, or the chain', () => {
    expect(first({ events: events.slice(0, 2) })).toMatch(
      /^pay-1: event 3: missing: a head signed at .* ends at event 2$/,
    );
    expect(first({ heads: [{ seq: 3, hash: 'f'.repeat(64), published_at: at }] })).toMatch(
      /^pay-1: event 3: rewritten: its hash differs from the head signed at /,
    );
    const edited = events.map((e) => (e.seq === 2 ? { ...e, reason: 'edited' } : e));
    expect(first({ events: edited })).toBe('pay-1: event 2: hash does not match the content');
    expect(first({ approval: undefined, votes: [], events: [] })).toMatch(
      /^pay-1: event 3: missing: .* has no events and no approvals row$/,
    );
    expect(first({ approval: undefined, heads: [] })).toBe(
      'pay-1: approvals: missing: audit events without their approval',
    );
  });
});
