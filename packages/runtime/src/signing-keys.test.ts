import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSigningJwk,
  jwkThumbprint,
  Keyring,
  newKeySetText,
  rotatedKeySetText,
  SigningKeysError,
} from './signing-keys.js';

function verifyCompact(
  token: string,
  jwk: { x: string },
): { header: unknown; payload: unknown; valid: boolean } {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
    valid: verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url')),
  };
}

describe('Keyring', () => {
  it('signs with the first private key and publishes every key without its private part', () => {
    const current = generateSigningJwk('new');
    const old = generateSigningJwk('old');
    const ring = Keyring.parse(JSON.stringify({ keys: [current, { ...old, d: undefined }] }), 'test');
    expect(ring.activeKid).toBe('new');
    const jwks = ring.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual(['new', 'old']);
    expect(JSON.stringify(jwks)).not.toContain(current.d);
    const token = ring.sign({ a: 1 }, 'test+jwt');
    const checked = verifyCompact(token, current);
    expect(checked).toEqual({
      header: { alg: 'EdDSA', kid: 'new', typ: 'test+jwt' },
      payload: { a: 1 },
      valid: true,
    });
    expect(verifyCompact(token, old).valid).toBe(false);
  });

  it('skips a retired key that has no private part when choosing the signer', () => {
    const retired = generateSigningJwk('retired');
    const current = generateSigningJwk('current');
    const ring = Keyring.parse(JSON.stringify({ keys: [{ ...retired, d: undefined }, current] }), 'test');
    expect(ring.activeKid).toBe('current');
  });

  it('names a key by its RFC 7638 thumbprint when it has no kid', () => {
    const { kid: _kid, ...key } = generateSigningJwk();
    const ring = Keyring.parse(JSON.stringify({ keys: [key] }), 'test');
    expect(ring.activeKid).toBe(jwkThumbprint(key.x));
    // RFC 8037 appendix A.3's thumbprint of its example key.
    expect(jwkThumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo')).toBe(
      'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
    );
  });

  it('refuses a key set it cannot sign with, naming the file and the key, never the key', () => {
    const a = generateSigningJwk('a');
    const b = generateSigningJwk('b');
    const cases: Array<[string, RegExp]> = [
      ['nope', /test: not JSON/],
      [JSON.stringify({ keys: [] }), /has no keys/],
      [JSON.stringify({ keys: [{ ...a, d: undefined }] }), /no key has a private part/],
      [JSON.stringify({ keys: [{ ...a, d: b.d }] }), /keys\.0\.d: the private key does not match x/],
      [JSON.stringify({ keys: [a, { ...b, kid: 'a' }] }), /keys\.1\.kid: kid a appears twice/],
      [JSON.stringify({ keys: [{ ...a, crv: 'P-256' }] }), /keys\.0\.crv: only Ed25519/],
    ];
    for (const [text, message] of cases) {
      let caught: unknown;
      try {
        Keyring.parse(text, 'test');
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SigningKeysError);
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message).not.toContain(a.d);
    }
  });

  it('says which variable to set when none is', () => {
    expect(() => Keyring.load({})).toThrow(/set SIGNING_KEYS_FILE/);
    expect(() => Keyring.load({ file: '/nonexistent/keys.json' })).toThrow(/SIGNING_KEYS_FILE \/nonexistent/);
  });

  it('rotates: a new key first signs, the old ones stay published', () => {
    const first = newKeySetText('one');
    const oldRing = Keyring.parse(first, 'test');
    const rotated = rotatedKeySetText(first, 'test', 'two');
    const ring = Keyring.parse(rotated, 'test');
    expect(ring.activeKid).toBe('two');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['two', 'one']);
    expect(ring.jwks().keys[1]).toEqual(oldRing.jwks().keys[0]);
    expect(() => rotatedKeySetText(rotated, 'test', 'one')).toThrow(/kid one is already/);
    expect(() => rotatedKeySetText('{}', 'test')).toThrow(SigningKeysError);
  });
});
