/**
 * Bearer tokens of the approval service's HTTP API and dashboard sign-in, and of the MCP server's
 * HTTP transport. `API_TOKENS` maps tokens to
 * identities; only sha256 digests are kept in memory, and a presented token is compared against
 * every digest in constant time, so neither the configuration in memory nor the timing of a
 * refusal gives a token away. Production configurations can hold digests only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalIdentity, isSystemActor } from '@countersign/contracts';

export interface ApiToken {
  /** sha256 of the token. */
  digest: Buffer;
  /** Who the token acts as (canonical): the decider, canceller or requester of what it does. */
  identity: string;
}

/** Raw tokens shorter than this are refused: they would be guessable. */
export const MIN_TOKEN_LENGTH = 16;

const PREHASHED = /^sha256:([0-9a-fA-F]{64}):(.+)$/;
const TOKEN = /^[^\s:,]+$/;

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Parses `API_TOKENS`: comma- or newline-separated entries, each `<token>:<identity>` or
 * `sha256:<hex digest of the token>:<identity>`. Identities are canonicalised as on every other
 * door ("Frank " is frank), so a token configured for a look-alike name is refused at start
 * rather than acting as a second person. Errors name the entry by position, never by content,
 * since the content is a secret.
 */
export function parseApiTokens(text: string): ApiToken[] {
  const entries = text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter(Boolean);
  const tokens: ApiToken[] = [];
  const seen = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const where = `entry ${index + 1}`;
    let digest: Buffer;
    let identity: string;
    const hashed = PREHASHED.exec(entry);
    if (hashed) {
      digest = Buffer.from(hashed[1] as string, 'hex');
      identity = hashed[2] as string;
    } else {
      const colon = entry.indexOf(':');
      if (colon < 0) throw new Error(`${where}: expected <token>:<identity> or sha256:<hex>:<identity>`);
      const token = entry.slice(0, colon);
      identity = entry.slice(colon + 1);
      if (!TOKEN.test(token)) throw new Error(`${where}: a token must not contain spaces, ":" or ","`);
      if (token.length < MIN_TOKEN_LENGTH) {
        throw new Error(`${where}: a token must be at least ${MIN_TOKEN_LENGTH} characters`);
      }
      digest = sha256(token);
    }
    const canonical = canonicalIdentity(identity);
    if (!canonical.ok) throw new Error(`${where}: the identity ${canonical.message}`);
    if (isSystemActor(canonical.identity)) {
      throw new Error(`${where}: the identity "${canonical.identity}" is reserved for Countersign itself`);
    }
    const key = digest.toString('hex');
    if (seen.has(key)) throw new Error(`${where}: the same token is configured twice`);
    seen.add(key);
    tokens.push({ digest, identity: canonical.identity });
  }
  return tokens;
}

export interface Identified {
  identity: string;
  /** A stable, non-secret handle of the token (sessions carry it to notice a revoked token). */
  fingerprint: string;
}

/** Looks presented tokens up among the configured digests. */
export class TokenStore {
  readonly #tokens: readonly ApiToken[];
  readonly #fingerprints: Map<string, string>;

  constructor(tokens: readonly ApiToken[]) {
    this.#tokens = tokens;
    this.#fingerprints = new Map(tokens.map((t) => [fingerprintOf(t.digest), t.identity]));
  }

  get size(): number {
    return this.#tokens.length;
  }

  /** The token's identity, or undefined. Compares with every digest: no early exit. */
  identify(presented: string): Identified | undefined {
    if (presented.length === 0 || presented.length > 4096) return undefined;
    const digest = sha256(presented);
    let found: ApiToken | undefined;
    for (const token of this.#tokens) {
      if (timingSafeEqual(token.digest, digest) && !found) found = token;
    }
    return found ? { identity: found.identity, fingerprint: fingerprintOf(found.digest) } : undefined;
  }

  /** The identity of a still-configured token's fingerprint (undefined once it was removed). */
  identityOf(fingerprint: string): string | undefined {
    return this.#fingerprints.get(fingerprint);
  }
}

function fingerprintOf(digest: Buffer): string {
  return createHash('sha256')
    .update('countersign-token-fingerprint')
    .update(digest)
    .digest('base64url')
    .slice(0, 22);
}
