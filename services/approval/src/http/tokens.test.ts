import { describe, expect, it } from 'vitest';
import { parseApiTokens, sha256, TokenStore } from './tokens.js';

const raw = 'token-for-alice-0123456789';

describe('parseApiTokens', () => {
  it('reads raw and pre-hashed entries, keeping only digests', () => {
    const digest = sha256('token-for-bob-0123456789').toString('hex');
    const tokens = parseApiTokens(` ${raw}:alice ,\nsha256:${digest}:bob with spaces`);
    expect(tokens.map((t) => t.identity)).toEqual(['alice', 'bob with spaces']);
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
