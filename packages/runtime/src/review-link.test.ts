import { describe, expect, it } from 'vitest';
import { mintReviewToken, ReviewTokenInvalid, reviewUrl, verifyReviewToken } from './review-link.js';

const secret = 'x'.repeat(40);
const future = new Date(Date.now() + 3600_000);

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReviewTokenInvalid);
    return (err as ReviewTokenInvalid).reason;
  }
  throw new Error('expected the token to be refused');
}

describe('review link tokens', () => {
  it('round-trips the approval, approver and expiry, with a fresh nonce each time', () => {
    const t1 = mintReviewToken(secret, { actionId: 'a1', approver: 'bob', expiresAt: future });
    const t2 = mintReviewToken(secret, { actionId: 'a1', approver: 'bob', expiresAt: future });
    const claims = verifyReviewToken(secret, t1, 'a1');
    expect(claims).toMatchObject({ a: 'a1', v: 'bob', e: Math.floor(future.getTime() / 1000) });
    expect(verifyReviewToken(secret, t2, 'a1').n).not.toBe(claims.n);
  });

  it('refuses a tampered, foreign, expired, malformed or wrongly-signed token', () => {
    const token = mintReviewToken(secret, { actionId: 'a1', approver: 'bob', expiresAt: future });
    const [payload, sig] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ a: 'a1', v: 'alice', e: 9e9, n: 'x' })).toString('base64url');
    expect(reason(() => verifyReviewToken(secret, `${forged}.${sig}`, 'a1'))).toBe('bad_signature');
    expect(reason(() => verifyReviewToken(secret, token, 'a2'))).toBe('wrong_approval');
    expect(reason(() => verifyReviewToken('y'.repeat(40), token, 'a1'))).toBe('bad_signature');
    expect(reason(() => verifyReviewToken(secret, `${payload}`, 'a1'))).toBe('malformed');
    expect(reason(() => verifyReviewToken(secret, 'a.b.c', 'a1'))).toBe('malformed');
    const past = mintReviewToken(secret, {
      actionId: 'a1',
      approver: 'bob',
      expiresAt: new Date(Date.now() - 1000),
    });
    expect(reason(() => verifyReviewToken(secret, past, 'a1'))).toBe('expired');
  });

  it('refuses a short secret', () => {
    expect(() => mintReviewToken('short', { actionId: 'a', approver: 'b', expiresAt: future })).toThrow(
      /at least/,
    );
  });

  it('builds an escaped review URL', () => {
    expect(reviewUrl('https://cs.example/', 'a-1', 'p.s+/')).toBe(
      'https://cs.example/approvals/a-1/review?token=p.s%2B%2F',
    );
  });
});
