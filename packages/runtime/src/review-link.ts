import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './keys.js';

/**
 * One-click review link tokens, minted by whoever sends the link (the notifier) and checked by
 * the approval service. A token is bound to one approval and one approver, expires with the
 * approval, and carries a nonce that the approval service burns in the same transaction as the
 * vote, which makes it single use. Format: `<base64url(json claims)>.<base64url(hmac-sha256)>`,
 * keyed with the secret's `review-link` key (keys.ts), never the secret itself.
 */
export interface ReviewClaims {
  /** action_id of the approval. */
  a: string;
  /** The approver the link was sent to: the vote is cast as this identity. */
  v: string;
  /** Expiry, seconds since the epoch (the approval's expires_at). */
  e: number;
  /** Random nonce; its burn record makes the token single use. */
  n: string;
}

export type ReviewTokenError = 'malformed' | 'bad_signature' | 'expired' | 'wrong_approval';

export class ReviewTokenInvalid extends Error {
  constructor(readonly reason: ReviewTokenError) {
    super(`review link ${reason.replace('_', ' ')}`);
    this.name = 'ReviewTokenInvalid';
  }
}

const MIN_SECRET_LENGTH = 32;

function checkSecret(secret: string): void {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`review link secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
}

function sign(secret: string, payload: string): string {
  return createHmac('sha256', deriveKey(secret, 'review-link')).update(payload).digest('base64url');
}

export function mintReviewToken(
  secret: string,
  claims: { actionId: string; approver: string; expiresAt: Date },
): string {
  checkSecret(secret);
  const body: ReviewClaims = {
    a: claims.actionId,
    v: claims.approver,
    e: Math.floor(claims.expiresAt.getTime() / 1000),
    n: randomBytes(16).toString('base64url'),
  };
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  return `${payload}.${sign(secret, payload)}`;
}

/** Verifies signature, binding to `actionId` and expiry; throws {@link ReviewTokenInvalid}. */
export function verifyReviewToken(
  secret: string,
  token: string,
  actionId: string,
  now = new Date(),
): ReviewClaims {
  checkSecret(secret);
  const parts = token.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1] || token.length > 2048)
    throw new ReviewTokenInvalid('malformed');
  const [payload, signature] = parts as [string, string];
  const expected = Buffer.from(sign(secret, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new ReviewTokenInvalid('bad_signature');
  }
  let claims: ReviewClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ReviewClaims;
  } catch {
    throw new ReviewTokenInvalid('malformed');
  }
  if (
    typeof claims.a !== 'string' ||
    typeof claims.v !== 'string' ||
    typeof claims.e !== 'number' ||
    typeof claims.n !== 'string'
  ) {
    throw new ReviewTokenInvalid('malformed');
  }
  if (claims.a !== actionId) throw new ReviewTokenInvalid('wrong_approval');
  if (claims.e * 1000 <= now.getTime()) throw new ReviewTokenInvalid('expired');
  return claims;
}

/** The review page URL for a token. */
export function reviewUrl(baseUrl: string, actionId: string, token: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}/approvals/${encodeURIComponent(actionId)}/review?token=${encodeURIComponent(token)}`;
}
