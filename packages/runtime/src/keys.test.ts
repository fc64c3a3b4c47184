import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveKey, type KeyPurpose } from './keys.js';
import { mintReviewToken, ReviewTokenInvalid, verifyReviewToken } from './review-link.js';

const secret = 'a-configured-secret-of-at-least-32-chars';

/** RFC 5869 written out with HMAC, independently of node's hkdf. */
function hkdfSha256(ikm: string, salt: string, info: string): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk)
    .update(Buffer.concat([Buffer.from(info), Buffer.from([1])]))
    .digest();
}

describe('deriveKey', () => {
  it('is HKDF-SHA256 of the secret with the purpose as its label', () => {
    expect(deriveKey(secret, 'session')).toEqual(hkdfSha256(secret, 'countersign', 'countersign:session'));
    expect(deriveKey(secret, 'session')).toHaveLength(32);
  });

  it('gives each purpose its own key, none of them the secret', () => {
    const purposes: KeyPurpose[] = [
      'review-link',
      'review-csrf',
      'session',
      'session-csrf',
      'session-secret',
      'oidc-flow',
      'audit-chain',
    ];
    const keys = purposes.map((p) => deriveKey(secret, p).toString('hex'));
    expect(new Set(keys).size).toBe(purposes.length);
    expect(keys).not.toContain(Buffer.from(secret).toString('hex'));
    expect(deriveKey(`${secret}x`, 'session')).not.toEqual(deriveKey(secret, 'session'));
  });
});

describe('review links are signed with the review-link key, not the secret', () => {
  const expiresAt = new Date(Date.now() + 60_000);

  it('refuses a token signed with the raw secret or with another purpose key', () => {
    const token = mintReviewToken(secret, { actionId: 'a-1', approver: 'frank', expiresAt });
    const [payload] = token.split('.') as [string];
    const signedWith = (key: string | Buffer) =>
      `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
    expect(verifyReviewToken(secret, signedWith(deriveKey(secret, 'review-link')), 'a-1').v).toBe('frank');
    for (const key of [secret, deriveKey(secret, 'session'), deriveKey(secret, 'audit-chain')]) {
      expect(() => verifyReviewToken(secret, signedWith(key), 'a-1')).toThrow(ReviewTokenInvalid);
    }
  });
});
