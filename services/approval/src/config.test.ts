import { ConfigError, loadConfig } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { ApprovalEnv } from './config.js';

const base = { DATABASE_URL: 'postgres://localhost/x' };
const secret = 'r'.repeat(32);

describe('ApprovalEnv HTTP settings', () => {
  it('leaves HTTP off without HTTP_PORT, with loopback and the 64 KiB limit as defaults', () => {
    const config = loadConfig(ApprovalEnv, base);
    expect(config.HTTP_PORT).toBeUndefined();
    expect(config.HTTP_HOST).toBe('127.0.0.1');
    expect(config.HTTP_BODY_LIMIT).toBe(65_536);
    expect(config.API_TOKENS).toEqual([]);
  });

  it('needs REVIEW_LINK_SECRET of 32+ characters with HTTP_PORT', () => {
    expect(() => loadConfig(ApprovalEnv, { ...base, HTTP_PORT: '0' })).toThrow(
      /REVIEW_LINK_SECRET: required/,
    );
    expect(() => loadConfig(ApprovalEnv, { ...base, HTTP_PORT: '0', REVIEW_LINK_SECRET: 'short' })).toThrow(
      /REVIEW_LINK_SECRET: must be at least 32/,
    );
    const config = loadConfig(ApprovalEnv, {
      ...base,
      HTTP_PORT: '8080',
      REVIEW_LINK_SECRET: secret,
      API_TOKENS: 'a-long-enough-token-123:alice',
    });
    expect(config.HTTP_PORT).toBe(8080);
    expect(config.API_TOKENS.map((t) => t.identity)).toEqual(['alice']);
  });

  it('names API_TOKENS in its error without echoing the token', () => {
    let error: unknown;
    try {
      loadConfig(ApprovalEnv, { ...base, API_TOKENS: 'tiny:alice' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/API_TOKENS: entry 1/);
    expect((error as Error).message).not.toContain('tiny');
  });
});
