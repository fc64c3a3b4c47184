import type { AuditEvent } from '@countersign/contracts';
import { Secret } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import {
  type ChainEvent,
  chainAudit,
  GENESIS_HASH,
  keyedAuditHash,
  plainAuditHash,
  verifyAuditChain,
} from './audit.js';
import { AuditKey, AuditKeys } from './audit-key.js';

const keys = AuditKeys.from(new Secret('k'.repeat(32)));

type Content = Omit<AuditEvent, 'seq' | 'prev_hash' | 'hash'>;

/** A chain as the service writes it: keyed, with its key id. */
function chain(actionId: string, events: Content[], key = keys.current): ChainEvent[] {
  return chainAudit(
    key,
    events.map((e) => ({ ...e, action_id: actionId })),
  ).map(({ action_id: _, ...row }) => row);
}

/** A chain as it was written before the chain was keyed: plain sha256, no key id. */
function plainChain(actionId: string, events: Content[]): ChainEvent[] {
  let prev = GENESIS_HASH;
  return events.map((e, i) => {
    const content = { ...e, seq: i + 1 };
    const hash = plainAuditHash(prev, actionId, content);
    const event = { ...content, prev_hash: prev, hash, key_id: null };
    prev = hash;
    return event;
  });
}

const events: Content[] = [
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
  it('accepts an intact keyed chain, including one read back with keys in another order', () => {
    const history = chain('pay-1', events);
    expect(history.every((e) => e.key_id === keys.current.id)).toBe(true);
    expect(verifyAuditChain('pay-1', history, keys)).toEqual({ ok: true });
    const reordered = history.map((e) => ({
      ...e,
      data: Object.fromEntries(Object.entries(e.data).reverse()),
    }));
    expect(verifyAuditChain('pay-1', reordered, keys)).toEqual({ ok: true });
    // The contract's history carries no key id: it verifies under the configured keys.
    expect(
      verifyAuditChain(
        'pay-1',
        history.map(({ key_id: _, ...e }) => e),
        keys,
      ),
    ).toEqual({ ok: true });
  });

  it('finds an edited row', () => {
    const history = chain('pay-1', events);
    history[1] = { ...history[1]!, actor: 'mallory' };
    expect(verifyAuditChain('pay-1', history, keys)).toMatchObject({ ok: false, seq: 2 });
  });

  it('finds a removed row and a re-hashed forgery that no longer links', () => {
    const history = chain('pay-1', events);
    expect(verifyAuditChain('pay-1', [history[0]!, history[2]!], keys)).toMatchObject({ ok: false, seq: 3 });
    const forged = { ...history[1]!, reason: 'forged' };
    forged.hash = keyedAuditHash(keys.current, forged.prev_hash, 'pay-1', forged);
    expect(verifyAuditChain('pay-1', [history[0]!, forged, history[2]!], keys)).toMatchObject({
      ok: false,
      seq: 3,
    });
  });

  it('refuses an event appended without the key: neither another key nor the plain sha256 rule', () => {
    const history = chain('pay-1', events.slice(0, 2));
    const last = history[1]!;
    const content = { ...events[2]!, seq: 3 };
    const other = AuditKey.of('not-the-audit-key-but-long-enough-000');
    for (const [hash, key_id] of [
      [plainAuditHash(last.hash, 'pay-1', content), null],
      [plainAuditHash(last.hash, 'pay-1', content), keys.current.id],
      [keyedAuditHash(other, last.hash, 'pay-1', content), keys.current.id],
      [keyedAuditHash(other, last.hash, 'pay-1', content), other.id],
    ] as const) {
      const forged: ChainEvent = { ...content, prev_hash: last.hash, hash, key_id };
      expect(verifyAuditChain('pay-1', [...history, forged], keys), String(key_id)).toMatchObject({
        ok: false,
        seq: 3,
      });
    }
  });

  it('still verifies chains from before the key, and keyed events appended to them', () => {
    const old = plainChain('pay-1', events.slice(0, 2));
    expect(verifyAuditChain('pay-1', old, keys)).toEqual({ ok: true });
    const last = old[1]!;
    const [appended] = chainAudit(
      keys.current,
      [{ ...events[2]!, action_id: 'pay-1' }],
      new Map([['pay-1', last]]),
    );
    const { action_id: _, ...row } = appended!;
    expect(verifyAuditChain('pay-1', [...old, row], keys)).toEqual({ ok: true });
  });

  it('verifies events of a retired key, and names a key that is not configured', () => {
    const retired = new Secret('r'.repeat(32));
    const history = chain('pay-1', events, AuditKey.of(retired.reveal()));
    expect(verifyAuditChain('pay-1', history, AuditKeys.from(new Secret('n'.repeat(32)), [retired]))).toEqual(
      {
        ok: true,
      },
    );
    expect(verifyAuditChain('pay-1', history, keys)).toMatchObject({
      ok: false,
      seq: 1,
      problem: expect.stringMatching(/not configured/),
    });
  });

  it('binds the chain to its approval', () => {
    expect(verifyAuditChain('pay-2', chain('pay-1', events), keys)).toMatchObject({ ok: false, seq: 1 });
  });
});
