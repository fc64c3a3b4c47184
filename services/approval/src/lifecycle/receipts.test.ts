import { verifyReceipt } from '@countersign/client';
import { RECEIPT_TYP, ReceiptClaims } from '@countersign/contracts';
import { generateSigningJwk, Keyring, keySetText } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { receiptClaims, receiptVote, signReceipt } from './receipts.js';

const keyring = Keyring.parse(keySetText([generateSigningJwk('k')]), 'test');
const source = {
  action_id: 'pay-1',
  request_hash: 'a'.repeat(64),
  status: 'approved' as const,
  requested_by: 'billing-job',
  decided_by: 'frank',
  decided_at: '2026-12-03T10:00:01.000Z',
  policy: { revision: 'rev-1', directory_revision: 'dir-1' },
  votes: [
    receiptVote({
      voter: 'alice',
      approved: true,
      reason: null,
      at: '2026-12-03T10:00:00+00:00',
      channel: null,
      on_behalf_of: null,
    }),
    receiptVote({
      voter: 'frank',
      approved: true,
      reason: 'ok',
      at: '2026-12-03T10:00:01.000Z',
      channel: 'md',
      on_behalf_of: 'carol',
    }),
  ],
};

describe('receipts', () => {
  it('attest the approval, its votes (with the relay channel and the delegator) and the policy and directory revisions', () => {
    const claims = receiptClaims('https://approvals.example', source, new Date('2026-12-03T10:00:01.500Z'));
    expect(ReceiptClaims.parse(claims)).toEqual(claims);
    expect(claims).toEqual({
      iss: 'https://approvals.example',
      sub: 'pay-1',
      iat: Date.UTC(2026, 11, 3, 10, 0, 1) / 1000,
      action_id: 'pay-1',
      request_hash: 'a'.repeat(64),
      status: 'approved',
      requested_by: 'billing-job',
      decided_by: 'frank',
      decided_at: '2026-12-03T10:00:01.000Z',
      votes: [
        { identity: 'alice', decision: 'approved', at: '2026-12-03T10:00:00.000Z' },
        {
          identity: 'frank',
          decision: 'approved',
          at: '2026-12-03T10:00:01.000Z',
          channel: 'md',
          on_behalf_of: 'carol',
        },
      ],
      policy_revision: 'rev-1',
      directory_revision: 'dir-1',
    });
  });

  it('are signed with the active key and verify against the published key set', () => {
    const token = signReceipt({ keyring, issuer: 'countersign' }, source, new Date());
    const [header] = token.split('.');
    expect(JSON.parse(Buffer.from(header as string, 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      kid: 'k',
      typ: RECEIPT_TYP,
    });
    expect(verifyReceipt(token, keyring.jwks(), { action_id: 'pay-1', status: 'approved' })).toMatchObject({
      iss: 'countersign',
      request_hash: 'a'.repeat(64),
    });
  });
});
