/**
 * Checking decision receipts (docs/contract.md, "Receipts"): the compact JWS the approval
 * service signs when an approval becomes terminal. Node's own Ed25519 (node:crypto), no JOSE
 * dependency, and deliberately narrow: exactly one algorithm (EdDSA) and one `typ`, keys only
 * from the JWK Set the caller trusts (fetched from the service or pinned), never from the token.
 */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import {
  type Approval,
  Jwks,
  type PublicJwk,
  RECEIPT_ALG,
  RECEIPT_TYP,
  ReceiptClaims,
} from '@countersign/contracts';

/** Why a receipt was refused. */
export type ReceiptErrorCode =
  /** The approval carries no receipt (a service too old to sign, or a forged event). */
  | 'missing'
  /** Not a compact JWS, or a part that is not base64url JSON. */
  | 'malformed'
  /** A header other than {alg: EdDSA, typ: countersign-receipt+jwt, kid}: `none`, HS256, crit, … */
  | 'bad_header'
  /** No trusted key has the header's kid (after one refetch of the key set). */
  | 'unknown_kid'
  /** The signature does not verify with that key. */
  | 'bad_signature'
  /** A signed payload that is not a receipt. */
  | 'bad_claims'
  /** A valid receipt for another approval, request or outcome than the one it came with. */
  | 'mismatch'
  /** The key set could not be read (the service did not answer `approval.keys`). */
  | 'keys_unavailable';

/** A decision whose receipt does not check out: never act on it. */
export class ReceiptInvalidError extends Error {
  override name = 'ReceiptInvalidError';

  constructor(
    readonly code: ReceiptErrorCode,
    message: string,
    /** The approval the receipt came with, when there was one. */
    readonly approval?: Approval,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What a receipt must attest, beyond a valid signature. */
export interface ReceiptExpectation {
  action_id?: string;
  request_hash?: string;
  status?: ReceiptClaims['status'];
}

const PART = /^[A-Za-z0-9_-]+$/;
const SIGNATURE_BYTES = 64;

interface DecodedReceipt {
  kid: string;
  signingInput: string;
  signature: Buffer;
  payload: unknown;
}

function base64urlJson(part: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new ReceiptInvalidError('malformed', `the receipt's ${what} is not base64url JSON`);
  }
}

/** Splits a receipt and checks its header, before any key is looked up. */
function decode(token: string): DecodedReceipt {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => PART.test(p))) {
    throw new ReceiptInvalidError('malformed', 'a receipt is a compact JWS: three base64url parts');
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = base64urlJson(headerPart, 'header');
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new ReceiptInvalidError('malformed', "the receipt's header is not a JSON object");
  }
  const h = header as Record<string, unknown>;
  // One algorithm only: `none`, HS256 (a public key used as an HMAC secret) and every other
  // name are refused before any key is touched (RFC 8725 section 3.1).
  if (h.alg !== RECEIPT_ALG) {
    throw new ReceiptInvalidError('bad_header', `alg must be ${RECEIPT_ALG}, not ${JSON.stringify(h.alg)}`);
  }
  if (h.typ !== RECEIPT_TYP) {
    throw new ReceiptInvalidError('bad_header', `typ must be ${RECEIPT_TYP}, not ${JSON.stringify(h.typ)}`);
  }
  if (typeof h.kid !== 'string' || h.kid === '') {
    throw new ReceiptInvalidError('bad_header', 'the header names no kid');
  }
  // Extensions this verifier does not implement must not be ignored (RFC 7515 section 4.1.11).
  if ('crit' in h || 'b64' in h) {
    throw new ReceiptInvalidError('bad_header', 'the header asks for JWS extensions (crit, b64)');
  }
  const signature = Buffer.from(signaturePart, 'base64url');
  if (signature.length !== SIGNATURE_BYTES) {
    throw new ReceiptInvalidError('malformed', 'an Ed25519 signature is 64 bytes');
  }
  return {
    kid: h.kid,
    signingInput: `${headerPart}.${payloadPart}`,
    signature,
    payload: base64urlJson(payloadPart, 'payload'),
  };
}

/** The kid a receipt names (its header checked), to pick or fetch its key. */
export function receiptKid(token: string): string {
  return decode(token).kid;
}

function publicKey(jwk: PublicJwk): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}

/**
 * Checks a receipt against a JWK Set: header, signature, claims, and that it attests `expected`.
 * Returns its claims; throws {@link ReceiptInvalidError} otherwise.
 */
export function verifyReceipt(token: string, jwks: Jwks, expected: ReceiptExpectation = {}): ReceiptClaims {
  const decoded = decode(token);
  const parsedKeys = Jwks.safeParse(jwks);
  if (!parsedKeys.success) throw new ReceiptInvalidError('keys_unavailable', 'the key set is not a JWK Set');
  const jwk = parsedKeys.data.keys.find((k) => k.kid === decoded.kid);
  if (!jwk) throw new ReceiptInvalidError('unknown_kid', `no trusted key has kid ${decoded.kid}`);
  if (!verify(null, Buffer.from(decoded.signingInput), publicKey(jwk), decoded.signature)) {
    throw new ReceiptInvalidError('bad_signature', `the signature does not verify with key ${decoded.kid}`);
  }
  const claims = ReceiptClaims.safeParse(decoded.payload);
  if (!claims.success) {
    const issue = claims.error.issues[0];
    throw new ReceiptInvalidError(
      'bad_claims',
      `the signed payload is not a receipt: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  for (const field of ['action_id', 'request_hash', 'status'] as const) {
    const want = expected[field];
    if (want !== undefined && claims.data[field] !== want) {
      throw new ReceiptInvalidError(
        'mismatch',
        `the receipt attests ${field} ${claims.data[field]}, not ${want}`,
      );
    }
  }
  return claims.data;
}

/** SHA-256 (hex) of a receipt: how an execution report references the receipt it acted on. */
export function receiptSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The trusted keys, by kid: pinned ones only, or the service's key set, fetched on first use and
 * fetched again once when a receipt names a kid it does not hold (a rotation since).
 */
export class ReceiptKeys {
  #jwks: Jwks | undefined;
  #fetching: Promise<Jwks> | undefined;

  /** `fetch` reads the service's key set; `pinned` (when given) is the only set ever used. */
  constructor(
    private readonly fetch: (() => Promise<Jwks>) | undefined,
    pinned?: Jwks,
  ) {
    this.#jwks = pinned;
  }

  /**
   * Verifies `token` as {@link verifyReceipt} does, with the cached key set, refetched once
   * when the receipt names a kid not in it (never with pinned keys).
   */
  async verify(token: string, expected: ReceiptExpectation = {}): Promise<ReceiptClaims> {
    const kid = receiptKid(token);
    let jwks = this.#jwks ?? (await this.refresh());
    if (this.fetch && !jwks.keys.some((k) => k.kid === kid)) jwks = await this.refresh();
    return verifyReceipt(token, jwks, expected);
  }

  private async refresh(): Promise<Jwks> {
    if (!this.fetch) throw new ReceiptInvalidError('keys_unavailable', 'no key set to verify receipts with');
    // Concurrent verifications share one fetch.
    this.#fetching ??= this.fetch().finally(() => {
      this.#fetching = undefined;
    });
    try {
      this.#jwks = await this.#fetching;
    } catch (err) {
      throw new ReceiptInvalidError(
        'keys_unavailable',
        `could not read the receipt keys: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
    }
    return this.#jwks;
  }
}

/**
 * Checks the receipt a terminal approval came with: signed by a trusted key, and attesting
 * this approval's action_id and status (and `requestHash`, the hash of what was sent, when given).
 */
export async function checkApprovalReceipt(
  keys: ReceiptKeys,
  approval: Approval,
  requestHash?: string,
): Promise<ReceiptClaims> {
  if (!approval.receipt) {
    throw new ReceiptInvalidError('missing', `approval ${approval.action_id} carries no receipt`, approval);
  }
  if (approval.status === 'pending') {
    throw new ReceiptInvalidError('mismatch', `approval ${approval.action_id} is still pending`, approval);
  }
  try {
    return await keys.verify(approval.receipt, {
      action_id: approval.action_id,
      status: approval.status,
      ...(requestHash !== undefined ? { request_hash: requestHash } : {}),
    });
  } catch (err) {
    if (err instanceof ReceiptInvalidError && err.approval === undefined) {
      throw new ReceiptInvalidError(err.code, err.message, approval, { cause: err.cause });
    }
    throw err;
  }
}
