import { describe, expect, it } from 'vitest';
import { parseApiTokens, sha256, TokenStore } from './api-tokens.js';

const raw = 'token-for-alice-0123456789';

describe('parseApiTokens', () => {
  it('reads raw and pre-hashed entries, keeping only digests', () => {
    const digest = sha256('token-for-bob-0123456789').toString('hex');
    const tokens = parseApiTokens(` ${raw}:alice ,\nsha256:${digest}:bob`);
    expect(tokens.map((t) => t.identity)).toEqual(['alice', 'bob']);
    expect(tokens[0]?.digest.equals(sha256(raw))).toBe(true);
    expect(JSON.stringify(tokens)).not.toContain(raw);
    expect(parseApiTokens('')).toEqual([]);
  });

  it('refuses bad entries without quoting them', () => {
    for (const [text, message] of [
      ['no-colon-here-0123456789', /entry 1: expected/],
      ['short:alice', /at least 16/],
      [`${raw}:`, /identity/],
      [`${raw}:alice,${raw}:bob`, /entry 2: the same token/],
      [`has space 0123456789:alice`, /spaces/],
    ] as const) {
      let error: Error | undefined;
      try {
        parseApiTokens(text);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message, text).toMatch(message);
      expect(error?.message).not.toContain('0123456789');
    }
  });
});

describe('parseApiTokens identities', () => {
  const entry = (identity: string, n = 0) => `token-${n}-0123456789abcdef:${identity}`;

  it('canonicalises them as every door does: case, NFKC forms and surrounding space are one identity', () => {
    const tokens = parseApiTokens(
      [
        entry('Frank', 1),
        entry('FRANK', 2),
        entry('\uff46\uff52\uff41\uff4e\uff4b', 3),
        entry(' frank', 4),
      ].join(','),
    );
    expect(tokens.map((t) => t.identity)).toEqual(['frank', 'frank', 'frank', 'frank']);
  });

  it('refuses look-alike and reserved names, naming the entry but not the token', () => {
    for (const [identity, message] of [
      ['fr\u200bank', /entry 1: the identity must not contain control, format, bidi or zero-width/],
      ['\u202efrank', /entry 1: the identity must not contain/],
      ['fr\u0430nk', /entry 1: the identity must not mix confusable scripts/],
      ['two words', /entry 1: the identity must be letters/],
      ['System', /entry 1: the identity "system" is reserved/],
    ] as const) {
      let error: Error | undefined;
      try {
        parseApiTokens(entry(identity));
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message, identity).toMatch(message);
      expect(error?.message).not.toContain('0123456789');
    }
  });
});

describe('TokenStore', () => {
  const store = new TokenStore(
    parseApiTokens(`${raw}:alice,sha256:${sha256('another-token-456789').toString('hex')}:bob`),
  );

  it('identifies configured tokens, raw or pre-hashed, and nothing else', () => {
    expect(store.identify(raw)?.identity).toBe('alice');
    expect(store.identify('another-token-456789')?.identity).toBe('bob');
    expect(store.identify(`${raw}x`)).toBeUndefined();
    expect(store.identify('')).toBeUndefined();
  });

  it('maps a fingerprint back to its identity while the token is configured', () => {
    const who = store.identify(raw);
    expect(store.identityOf(who?.fingerprint ?? '')).toBe('alice');
    expect(new TokenStore([]).identityOf(who?.fingerprint ?? '')).toBeUndefined();
    expect(who?.fingerprint).not.toContain(sha256(raw).toString('base64url').slice(0, 10));
  });
});
