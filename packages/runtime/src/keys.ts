import { hkdfSync } from 'node:crypto';

/**
 * What a derived key is for. Each purpose gets its own key from the configured secret, so a
 * value signed for one purpose never verifies for another, and one leaked derived key signs for
 * nothing else (HKDF is one-way: it does not give back the secret or a sibling key).
 * `audit-chain` keys the audit trail's HMACs (from AUDIT_KEY). Receipts are signed with an
 * Ed25519 key set of their own (signing-keys.ts), never with a derived key: their public half is
 * published.
 */
export type KeyPurpose =
  | 'review-link'
  | 'review-csrf'
  | 'session'
  | 'session-csrf'
  | 'session-secret'
  | 'oidc-flow'
  | 'audit-chain';

const SALT = 'countersign';

/** HKDF-SHA256 (RFC 5869) of `secret`, 32 bytes, with the purpose as its info label. */
export function deriveKey(secret: string, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, SALT, `countersign:${purpose}`, 32));
}
