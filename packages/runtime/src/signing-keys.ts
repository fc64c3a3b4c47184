import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Ed25519 signing keys (RFC 8037 OKP JWKs) for what Countersign signs so that others can check it
 * without trusting the database: decision receipts and published audit heads. Standard JOSE so
 * that any JOSE library verifies them against the JWKS we publish.
 *
 * The key file is a JWK Set whose keys carry their private part `d` where we still hold it:
 *
 *   { "keys": [ { "kty": "OKP", "crv": "Ed25519", "kid": "2026-12", "x": "…", "d": "…" },
 *               { "kty": "OKP", "crv": "Ed25519", "kid": "2026-06", "x": "…" } ] }
 *
 * The FIRST key with `d` signs; every key is published (public part only), so a receipt signed
 * by a retired key keeps verifying. Rotation: put a new key first, keep the old ones after it (the
 * private part of a retired key may be dropped), reload. A key without `kid` gets its RFC 7638
 * thumbprint as kid.
 */

/** A public Ed25519 JWK as published in the JWKS. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

/** A private Ed25519 JWK, as written to a key file. */
export interface PrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  d: string;
  kid: string;
}

const Base64Url = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected 32 bytes, base64url without padding');

const KeyFileJwk = z.object({
  kty: z.literal('OKP', { message: 'only OKP (Ed25519) keys are supported' }),
  crv: z.literal('Ed25519', { message: 'only Ed25519 keys are supported' }),
  x: Base64Url,
  d: Base64Url.optional(),
  kid: z.string().min(1).max(128).optional(),
});

const KeyFile = z.object({ keys: z.array(KeyFileJwk).min(1, 'the key set has no keys') });

export class SigningKeysError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeysError';
  }
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key. */
export function jwkThumbprint(x: string): string {
  // Required members only, in lexicographic order, no whitespace (RFC 7638 section 3).
  return base64url(createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest());
}

/** The keys Countersign signs with (one active) and publishes (all). */
export class Keyring {
  readonly #signer: KeyObject;
  /** Kid of the key that signs. */
  readonly activeKid: string;
  readonly #published: readonly PublicJwk[];

  private constructor(signer: KeyObject, activeKid: string, published: readonly PublicJwk[]) {
    this.#signer = signer;
    this.activeKid = activeKid;
    this.#published = published;
  }

  /** Parses a key file's text; `source` names it in errors (never its content: it is secret). */
  static parse(text: string, source: string): Keyring {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new SigningKeysError(`${source}: not JSON (expected a JWK Set: {"keys": [...]})`);
    }
    const parsed = KeyFile.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SigningKeysError(`${source}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
    }
    const published: PublicJwk[] = [];
    let signer: { key: KeyObject; kid: string } | undefined;
    for (const [index, jwk] of parsed.data.keys.entries()) {
      const kid = jwk.kid ?? jwkThumbprint(jwk.x);
      if (published.some((k) => k.kid === kid))
        throw new SigningKeysError(`${source}: keys.${index}.kid: kid ${kid} appears twice`);
      published.push({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, use: 'sig', alg: 'EdDSA' });
      if (jwk.d === undefined || signer) continue;
      const key = createPrivateKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d },
        format: 'jwk',
      });
      // A key file whose d does not belong to its x would sign receipts nobody can verify.
      const derivedX = createPublicKey(key).export({ format: 'jwk' }).x;
      if (derivedX !== jwk.x)
        throw new SigningKeysError(`${source}: keys.${index}.d: the private key does not match x`);
      signer = { key, kid };
    }
    if (!signer) throw new SigningKeysError(`${source}: no key has a private part (d): nothing can sign`);
    return new Keyring(signer.key, signer.kid, published);
  }

  /** Reads the key set from SIGNING_KEYS (inline, secret) or SIGNING_KEYS_FILE (a path). */
  static load(settings: { inline?: string; file?: string }): Keyring {
    if (settings.inline !== undefined) return Keyring.parse(settings.inline, 'SIGNING_KEYS');
    if (settings.file === undefined)
      throw new SigningKeysError('no signing keys: set SIGNING_KEYS_FILE (or SIGNING_KEYS)');
    let text: string;
    try {
      text = readFileSync(settings.file, 'utf8');
    } catch (err) {
      throw new SigningKeysError(`SIGNING_KEYS_FILE ${settings.file}: ${(err as Error).message}`);
    }
    return Keyring.parse(text, `SIGNING_KEYS_FILE ${settings.file}`);
  }

  /** The public keys as a JWK Set (RFC 7517 section 5), what `/.well-known/jwks.json` serves. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: this.#published.map((k) => ({ ...k })) };
  }

  /**
   * A compact JWS (RFC 7515) over `payload`, EdDSA with the active key; `typ` names what it is
   * (RFC 8725 section 3.11: explicit typing keeps one kind of token from passing for another).
   */
  sign(payload: Record<string, unknown>, typ: string): string {
    const header = base64url(JSON.stringify({ alg: 'EdDSA', kid: this.activeKid, typ }));
    const body = base64url(JSON.stringify(payload));
    const input = `${header}.${body}`;
    return `${input}.${base64url(sign(null, Buffer.from(input), this.#signer))}`;
  }
}

/** A new Ed25519 key for a key file, kid = its thumbprint unless given. */
export function generateSigningJwk(kid?: string): PrivateJwk {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (!jwk.x || !jwk.d) throw new SigningKeysError('key generation returned no key');
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: kid ?? jwkThumbprint(jwk.x) };
}

/** A key file's text (a JWK Set, one key per line for readable diffs) holding `keys`, first signs. */
export function keySetText(keys: readonly (PrivateJwk | PublicJwk)[]): string {
  return `{"keys":[\n${keys.map((k) => `  ${JSON.stringify(k)}`).join(',\n')}\n]}\n`;
}

/** A new key file's text: one fresh key. */
export function newKeySetText(kid?: string): string {
  return keySetText([generateSigningJwk(kid)]);
}

/**
 * Rotation: the key file's text with a fresh key first (it signs from the next start), every
 * existing key kept after it, unchanged, so receipts they signed keep verifying. Refuses a file
 * the services would refuse.
 */
export function rotatedKeySetText(text: string, source: string, kid?: string): string {
  Keyring.parse(text, source);
  const existing = (JSON.parse(text) as { keys: (PrivateJwk | PublicJwk)[] }).keys;
  const fresh = generateSigningJwk(kid);
  if (existing.some((k) => k.kid === fresh.kid))
    throw new SigningKeysError(`${source}: kid ${fresh.kid} is already in the key set`);
  return keySetText([fresh, ...existing]);
}
