/**
 * Decision receipts: what the approval service signs when an approval becomes terminal, and the
 * public keys that check it. A receipt is a compact JWS (RFC 7515), alg EdDSA (Ed25519, RFC
 * 8037), header `kid` and `typ` {@link RECEIPT_TYP}; its payload is {@link ReceiptClaims}.
 * Standard JOSE, so any JOSE library verifies it against {@link Jwks}; the SDK's own check is
 * `verifyReceipt` in @countersign/client.
 */
import { z } from 'zod';
import { ActionId, TERMINAL_STATUSES, Timestamp } from './schemas.js';

/** The `typ` header of every receipt: explicit typing, so no other token passes for one (RFC 8725 3.11). */
export const RECEIPT_TYP = 'countersign-receipt+jwt';

/** The one algorithm receipts use; a header naming any other (`none`, `HS256`, …) is refused. */
export const RECEIPT_ALG = 'EdDSA';

/** One vote as the receipt records it: who, which way, when, and the relay channel that carried it. */
export const ReceiptVote = z.object({
  identity: z.string().min(1),
  decision: z.enum(['approved', 'rejected']),
  at: Timestamp,
  channel: z.string().min(1).optional(),
  /** The person a delegate voted for: `identity` is the delegate who cast it. */
  on_behalf_of: z.string().min(1).optional(),
});
export type ReceiptVote = z.infer<typeof ReceiptVote>;

/** The signed payload of a receipt. */
export const ReceiptClaims = z.object({
  /** Who signed: the approval service's PUBLIC_URL, or `countersign` without one. */
  iss: z.string().min(1),
  /** The approval: `sub` and `action_id` are the same. */
  sub: ActionId,
  /** Signing time, seconds since the epoch (the transaction's clock). */
  iat: z.number().int().nonnegative(),
  action_id: ActionId,
  /** sha256 hex of the request this approval answers (docs/contract.md, "Request hash"). */
  request_hash: z.string().regex(/^[0-9a-f]{64}$/),
  status: z.enum(TERMINAL_STATUSES),
  /** The requester principal. */
  requested_by: z.string().min(1),
  /** Who made it terminal: the last voter, the canceller, `policy` or `countersign`. */
  decided_by: z.string().min(1),
  decided_at: Timestamp,
  /** Every vote, oldest first. */
  votes: z.array(ReceiptVote),
  /** The policy bundle revision that decided what the approval needed. */
  policy_revision: z.string().min(1),
  /** The directory revision the policy read, when it recorded one. */
  directory_revision: z.string().min(1).optional(),
});
export type ReceiptClaims = z.infer<typeof ReceiptClaims>;

/** A published public key: Ed25519 (RFC 8037), named by `kid`. */
export const PublicJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  kid: z.string().min(1),
  use: z.literal('sig').optional(),
  alg: z.literal(RECEIPT_ALG).optional(),
});
export type PublicJwk = z.infer<typeof PublicJwk>;

/** A JWK Set (RFC 7517 section 5): what `approval.keys` answers and `/.well-known/jwks.json` serves. */
export const Jwks = z.object({ keys: z.array(PublicJwk) });
export type Jwks = z.infer<typeof Jwks>;

/** `approval.keys` takes nothing. */
export const KeysRequest = z.strictObject({});
export type KeysRequest = z.infer<typeof KeysRequest>;
