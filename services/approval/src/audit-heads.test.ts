import { generateSigningJwk, Keyring, keySetText } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { HEADS_TYP, verifyHeads } from './audit-heads.js';

const jwk = generateSigningJwk('heads-1');
const keyring = Keyring.parse(keySetText([jwk]), 'test');
const published = keyring.jwks().keys;
const payload = {
  kind: 'batch',
  published_at: '2026-01-01T00:00:00.000Z',
  heads: [{ action_id: 'pay-1', seq: 3, hash: 'a'.repeat(64) }],
};

describe('verifyHeads', () => {
  it('accepts heads signed by a key of the set, and hands back their payload', () => {
    const verdict = verifyHeads(keyring.sign(payload, HEADS_TYP), published);
    expect(verdict).toEqual({ ok: true, kid: 'heads-1', payload });
  });

  it('refuses a changed head, another key, another typ, and garbage', () => {
    const jws = keyring.sign(payload, HEADS_TYP);
    const [header, , signature] = jws.split('.');
    const changed = Buffer.from(
      JSON.stringify({ ...payload, heads: [{ ...payload.heads[0], seq: 2 }] }),
    ).toString('base64url');
    expect(verifyHeads(`${header}.${changed}.${signature}`, published)).toEqual({
      ok: false,
      problem: 'signature does not verify',
    });
    const stranger = Keyring.parse(keySetText([generateSigningJwk('heads-1')]), 'other');
    expect(verifyHeads(stranger.sign(payload, HEADS_TYP), published)).toMatchObject({ ok: false });
    expect(verifyHeads(keyring.sign(payload, 'countersign-receipt+jwt'), published)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^typ /),
    });
    expect(verifyHeads('not a jws', published)).toMatchObject({ ok: false });
    expect(verifyHeads(jws, [])).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/not in the key set/),
    });
  });
});
