import type { AuditEvent } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { auditHash, GENESIS_HASH, verifyAuditChain } from './audit.js';

function chain(actionId: string, events: Omit<AuditEvent, 'seq' | 'prev_hash' | 'hash'>[]): AuditEvent[] {
  let prev = GENESIS_HASH;
  return events.map((e, i) => {
    const content = { ...e, seq: i + 1 };
    const hash = auditHash(prev, actionId, content);
    const event = { ...content, prev_hash: prev, hash };
    prev = hash;
    return event;
  });
}

const events = [
  {
    event: 'requested',
    actor: 'dave',
    reason: null,
    data: { outcome: 'needs_approval' },
    at: '2025-01-01T00:00:00.000Z',
  },
  { event: 'voted', actor: 'frank', reason: 'ok', data: { approved: true }, at: '2025-01-01T00:01:00.000Z' },
  { event: 'approved', actor: 'frank', reason: 'ok', data: {}, at: '2025-01-01T00:01:00.000Z' },
];

describe('verifyAuditChain', () => {
  it('accepts an intact chain, including one read back with keys in another order', () => {
    const history = chain('pay-1', events);
    expect(verifyAuditChain('pay-1', history)).toEqual({ ok: true });
    const reordered = history.map((e) => ({
      ...e,
      data: Object.fromEntries(Object.entries(e.data).reverse()),
    }));
    expect(verifyAuditChain('pay-1', reordered)).toEqual({ ok: true });
  });

  it('finds an edited row', () => {
    const history = chain('pay-1', events);
    history[1] = { ...history[1]!, actor: 'mallory' };
    expect(verifyAuditChain('pay-1', history)).toMatchObject({ ok: false, seq: 2 });
  });

  it('finds a removed row and a re-hashed forgery that no longer links', () => {
    const history = chain('pay-1', events);
    expect(verifyAuditChain('pay-1', [history[0]!, history[2]!])).toMatchObject({ ok: false, seq: 3 });
    const forged = { ...history[1]!, reason: 'forged' };
    forged.hash = auditHash(forged.prev_hash, 'pay-1', forged);
    expect(verifyAuditChain('pay-1', [history[0]!, forged, history[2]!])).toMatchObject({
      ok: false,
      seq: 3,
    });
  });

  it('binds the chain to its approval', () => {
    expect(verifyAuditChain('pay-2', chain('pay-1', events))).toMatchObject({ ok: false, seq: 1 });
  });
});
