import { createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { type Jwks, RECEIPT_TYP, type ReceiptClaims } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { ReceiptInvalidError, ReceiptKeys, receiptSha256, verifyReceipt } from './receipts.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function keyPair(kid: string): { kid: string; privateKey: KeyObject; jwk: Jwks['keys'][number] } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x as string;
  return { kid, privateKey, jwk: { kty: 'OKP', crv: 'Ed25519', x, kid, use: 'sig', alg: 'EdDSA' } };
}

const claims: ReceiptClaims = {
  iss: 'https://approvals.example',
  sub: 'pay-1',
  iat: 1_700_000_000,
  action_id: 'pay-1',
  request_hash: 'a'.repeat(64),
  status: 'approved',
  requested_by: 'billing-job',
  decided_by: 'frank',
  decided_at: '2026-12-03T10:00:00.000Z',
  votes: [{ identity: 'frank', decision: 'approved', at: '2026-12-03T10:00:00.000Z' }],
  policy_revision: 'rev-1',
};

function jws(header: Record<string, unknown>, payload: unknown, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const current = keyPair('current');
const other = keyPair('other');
const jwks: Jwks = { keys: [current.jwk] };
const good = jws({ alg: 'EdDSA', kid: 'current', typ: RECEIPT_TYP }, claims, current.privateKey);

function refusal(fn: () => unknown): ReceiptInvalidError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReceiptInvalidError);
    return err as ReceiptInvalidError;
  }
  throw new Error('expected the receipt to be refused');
}

describe('verifyReceipt', () => {
  it('returns the claims of a receipt signed by a trusted key that attests what is expected', () => {
    expect(
      verifyReceipt(good, jwks, { action_id: 'pay-1', request_hash: 'a'.repeat(64), status: 'approved' }),
    ).toEqual(claims);
    expect(receiptSha256(good)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a payload changed under a kept signature, and a signature by another key', () => {
    const [header, , signature] = good.split('.');
    const edited = `${header}.${b64({ ...claims, status: 'approved', request_hash: 'b'.repeat(64) })}.${signature}`;
    expect(refusal(() => verifyReceipt(edited, jwks)).code).toBe('bad_signature');
    const forged = jws({ alg: 'EdDSA', kid: 'current', typ: RECEIPT_TYP }, claims, other.privateKey);
    expect(refusal(() => verifyReceipt(forged, jwks)).code).toBe('bad_signature');
    const unknown = jws({ alg: 'EdDSA', kid: 'other', typ: RECEIPT_TYP }, claims, other.privateKey);
    expect(refusal(() => verifyReceipt(unknown, jwks)).code).toBe('unknown_kid');
  });

  it('refuses alg none, HS256 keyed with the public key, another typ, no kid and crit', () => {
    const none = `${b64({ alg: 'none', kid: 'current', typ: RECEIPT_TYP })}.${b64(claims)}.`;
    expect(refusal(() => verifyReceipt(none, jwks)).code).toBe('malformed');
    const noneSigned = `${b64({ alg: 'none', kid: 'current', typ: RECEIPT_TYP })}.${b64(claims)}.${'A'.repeat(86)}`;
    expect(refusal(() => verifyReceipt(noneSigned, jwks)).code).toBe('bad_header');
    const hsInput = `${b64({ alg: 'HS256', kid: 'current', typ: RECEIPT_TYP })}.${b64(claims)}`;
    const hs = `${hsInput}.${createHmac('sha256', JSON.stringify(current.jwk)).update(hsInput).digest('base64url')}`;
    expect(refusal(() => verifyReceipt(hs, jwks)).code).toBe('bad_header');
    for (const header of [
      { alg: 'EdDSA', kid: 'current', typ: 'JWT' },
      { alg: 'EdDSA', kid: 'current' },
      { alg: 'EdDSA', typ: RECEIPT_TYP },
      { alg: 'EdDSA', kid: 'current', typ: RECEIPT_TYP, crit: ['exp'] },
    ]) {
      expect(refusal(() => verifyReceipt(jws(header, claims, current.privateKey), jwks)).code).toBe(
        'bad_header',
      );
    }
    expect(refusal(() => verifyReceipt('not-a-jws', jwks)).code).toBe('malformed');
  });

  it('refuses a signed payload that is not a receipt, and one that attests something else', () => {
    const notReceipt = jws(
      { alg: 'EdDSA', kid: 'current', typ: RECEIPT_TYP },
      { hello: 1 },
      current.privateKey,
    );
    expect(refusal(() => verifyReceipt(notReceipt, jwks)).code).toBe('bad_claims');
    expect(refusal(() => verifyReceipt(good, jwks, { action_id: 'pay-2' })).code).toBe('mismatch');
    expect(refusal(() => verifyReceipt(good, jwks, { request_hash: 'c'.repeat(64) })).code).toBe('mismatch');
    expect(refusal(() => verifyReceipt(good, jwks, { status: 'rejected' })).code).toBe('mismatch');
  });
});

describe('ReceiptKeys', () => {
  it('fetches once, and again once for a kid it does not hold (a rotation)', async () => {
    let fetches = 0;
    let served: Jwks = { keys: [current.jwk] };
    const keys = new ReceiptKeys(async () => {
      fetches++;
      return served;
    });
    await keys.verify(good);
    await keys.verify(good);
    expect(fetches).toBe(1);
    const rotated = jws({ alg: 'EdDSA', kid: 'other', typ: RECEIPT_TYP }, claims, other.privateKey);
    served = { keys: [other.jwk, current.jwk] };
    await keys.verify(rotated);
    await keys.verify(good);
    expect(fetches).toBe(2);
    const stranger = keyPair('stranger');
    const unknown = jws({ alg: 'EdDSA', kid: 'stranger', typ: RECEIPT_TYP }, claims, stranger.privateKey);
    await expect(keys.verify(unknown)).rejects.toMatchObject({ code: 'unknown_kid' });
    expect(fetches).toBe(3);
  });

  it('never fetches with pinned keys, and says so when it cannot read the key set', async () => {
    const pinned = new ReceiptKeys(undefined, { keys: [current.jwk] });
    await expect(pinned.verify(good)).resolves.toMatchObject({ action_id: 'pay-1' });
    const rotated = jws({ alg: 'EdDSA', kid: 'other', typ: RECEIPT_TYP }, claims, other.privateKey);
    await expect(pinned.verify(rotated)).rejects.toMatchObject({ code: 'unknown_kid' });
    const down = new ReceiptKeys(async () => {
      throw new Error('no responders');
    });
    await expect(down.verify(good)).rejects.toMatchObject({ code: 'keys_unavailable' });
  });
});
