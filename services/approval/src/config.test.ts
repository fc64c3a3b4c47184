import { ConfigError, loadConfig } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { ApprovalEnv } from './config.js';

const base = { DATABASE_URL: 'postgres://localhost/x', DIRECTORY_FILE: 'directory.yaml' };
const secret = 'r'.repeat(32);

describe('ApprovalEnv HTTP settings', () => {
  it('leaves HTTP off without HTTP_PORT, with loopback and the 64 KiB limit as defaults', () => {
    const config = loadConfig(ApprovalEnv, base);
    expect(config.http).toBeUndefined();
    expect(config.apiTokens).toEqual([]);
    const withHttp = loadConfig(ApprovalEnv, { ...base, HTTP_PORT: '0', REVIEW_LINK_SECRET: secret });
    expect(withHttp.http).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      bodyLimit: 65_536,
      sessionTtlSeconds: 8 * 3600,
      sseHeartbeatMs: 15_000,
      readyTimeoutMs: 2_000,
      drainMs: 0,
    });
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
    expect(config.http?.port).toBe(8080);
    expect(config.apiTokens.map((t) => t.identity)).toEqual(['alice']);
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

describe('ApprovalEnv settings', () => {
  it('derives the service settings, durations in milliseconds, defaults from the schema', () => {
    const { service, runtime, database } = loadConfig(ApprovalEnv, base);
    expect(service).toMatchObject({
      intakeBatchSize: 100,
      intakeAckWaitMs: 30_000,
      intakeRetryBaseMs: 500,
      policyTimeoutMs: 5_000,
      expiryIntervalMs: 2_000,
      outboxPollMs: 1_000,
    });
    expect(runtime.shutdownTimeoutMs).toBe(10_000);
    expect(database.poolSize).toBe(10);
    expect(JSON.stringify(database)).not.toContain('localhost');
  });

  it('reads durations with units or as bare milliseconds', () => {
    const { service, http } = loadConfig(ApprovalEnv, {
      ...base,
      INTAKE_ACK_WAIT: '2m',
      EXPIRY_INTERVAL: '250',
      HTTP_PORT: '0',
      REVIEW_LINK_SECRET: secret,
      SESSION_TTL: '1h',
    });
    expect(service.intakeAckWaitMs).toBe(120_000);
    expect(service.expiryIntervalMs).toBe(250);
    expect(http?.sessionTtlSeconds).toBe(3600);
  });

  it('names a bad or out-of-range duration without echoing it', () => {
    let error: unknown;
    try {
      loadConfig(ApprovalEnv, { ...base, POLICY_TIMEOUT: 'soon-ish', EXPIRY_INTERVAL: '5ms' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
      'EXPIRY_INTERVAL',
      'POLICY_TIMEOUT',
    ]);
    expect((error as Error).message).toMatch(/EXPIRY_INTERVAL: must be at least 100ms/);
    expect((error as Error).message).not.toContain('soon-ish');
  });
});
