import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, generateSigningJwk, keySetText, loadConfig } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { ApprovalEnv } from './config.js';

const key = generateSigningJwk('test-key');
const base = {
  DATABASE_URL: 'postgres://localhost/x',
  DIRECTORY_FILE: 'directory.yaml',
  SIGNING_KEYS: keySetText([key]),
  AUDIT_KEY: 'a'.repeat(32),
};
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

  it('opens the Slack door only with a signing secret and HTTP, never printing the secret', () => {
    const http = { ...base, HTTP_PORT: '0', REVIEW_LINK_SECRET: secret };
    expect(loadConfig(ApprovalEnv, http).http?.slack).toBeUndefined();
    const signing = 's'.repeat(32);
    const config = loadConfig(ApprovalEnv, { ...http, SLACK_SIGNING_SECRET: signing });
    expect(config.http?.slack).toMatchObject({
      responseUrlPrefix: 'https://hooks.slack.com/',
      responseTimeoutMs: 5_000,
    });
    expect(config.http?.slack?.signingSecret.reveal()).toBe(signing);
    expect(JSON.stringify(config)).not.toContain(signing);
    expect(() => loadConfig(ApprovalEnv, { ...base, SLACK_SIGNING_SECRET: signing })).toThrow(
      /SLACK_SIGNING_SECRET: needs HTTP_PORT/,
    );
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

describe('ApprovalEnv single sign-on and sign-in limits', () => {
  const http = {
    ...base,
    HTTP_PORT: '0',
    REVIEW_LINK_SECRET: secret,
    PUBLIC_URL: 'https://approvals.example',
  };
  const oidc = {
    OIDC_ISSUER: 'https://login.example',
    OIDC_CLIENT_ID: 'countersign',
    OIDC_CLIENT_SECRET: 'client-secret-value',
  };

  it('is off by default; 10 sign-ins per minute', () => {
    const config = loadConfig(ApprovalEnv, http);
    expect(config.http?.oidc).toBeUndefined();
    expect(config.http?.signInPerMinute).toBe(10);
  });

  it('reads the issuer, client and scopes; the client secret never prints', () => {
    const config = loadConfig(ApprovalEnv, { ...http, ...oidc, SIGNIN_RATE_LIMIT: '3' });
    expect(config.http?.oidc).toMatchObject({
      issuer: 'https://login.example',
      clientId: 'countersign',
      scopes: 'openid email profile',
    });
    expect(config.http?.oidc?.clientSecret.reveal()).toBe('client-secret-value');
    expect(JSON.stringify(config)).not.toContain('client-secret-value');
    expect(config.http?.signInPerMinute).toBe(3);
  });

  it('needs all three OIDC variables and PUBLIC_URL together, an https issuer and the openid scope', () => {
    expect(() => loadConfig(ApprovalEnv, { ...http, OIDC_ISSUER: oidc.OIDC_ISSUER })).toThrow(
      /OIDC_CLIENT_ID: required with OIDC_ISSUER/,
    );
    const { PUBLIC_URL: _, ...noPublicUrl } = http;
    expect(() => loadConfig(ApprovalEnv, { ...noPublicUrl, ...oidc })).toThrow(
      /PUBLIC_URL: required with OIDC_ISSUER/,
    );
    expect(() => loadConfig(ApprovalEnv, { ...http, ...oidc, OIDC_ISSUER: 'http://login.example' })).toThrow(
      /OIDC_ISSUER: must be an https URL/,
    );
    expect(
      loadConfig(ApprovalEnv, { ...http, ...oidc, OIDC_ISSUER: 'http://127.0.0.1:9000' }).http?.oidc?.issuer,
    ).toBe('http://127.0.0.1:9000');
    expect(() => loadConfig(ApprovalEnv, { ...http, ...oidc, OIDC_SCOPES: 'email profile' })).toThrow(
      /OIDC_SCOPES: must include openid/,
    );
  });
});

describe('ApprovalEnv audit chain', () => {
  it('needs AUDIT_KEY of 32+ characters, and keys the chain with it (retired keys verify only)', () => {
    const { AUDIT_KEY: _, ...withoutKey } = base;
    expect(() => loadConfig(ApprovalEnv, withoutKey)).toThrow(/AUDIT_KEY: required/);
    expect(() => loadConfig(ApprovalEnv, { ...base, AUDIT_KEY: 'short' })).toThrow(
      /AUDIT_KEY: must be at least 32/,
    );
    const config = loadConfig(ApprovalEnv, {
      ...base,
      AUDIT_KEYS_RETIRED: `${'b'.repeat(32)}, ${'c'.repeat(32)}`,
    });
    const { keys } = config.service.audit;
    expect(keys.ids()).toHaveLength(3);
    expect(keys.ids()[0]).toBe(keys.current.id);
    // The key id names the key without revealing it, and is stable across restarts.
    expect(keys.current.id).toMatch(/^ak1-[0-9a-f]{16}$/);
    expect(loadConfig(ApprovalEnv, base).service.audit.keys.current.id).toBe(keys.current.id);
    expect(JSON.stringify(config)).not.toContain('a'.repeat(32));
  });
});

describe('ApprovalEnv signing keys', () => {
  const { SIGNING_KEYS: _, ...withoutKeys } = base;

  function issues(env: Record<string, string>): { variable: string; message: string }[] {
    try {
      loadConfig(ApprovalEnv, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).not.toContain(key.d);
      return [...(err as ConfigError).issues];
    }
    throw new Error('expected a configuration error');
  }

  it('are required: a service that cannot sign does not start', () => {
    expect(issues(withoutKeys)).toEqual([
      { variable: 'SIGNING_KEYS_FILE', message: expect.stringMatching(/^required \(or SIGNING_KEYS\)/) },
    ]);
  });

  it('load from SIGNING_KEYS inline or from SIGNING_KEYS_FILE, never from both', () => {
    expect(loadConfig(ApprovalEnv, base).signingKeys.activeKid).toBe('test-key');
    const file = join(mkdtempSync(join(tmpdir(), 'approval-config-')), 'keys.json');
    writeFileSync(file, keySetText([generateSigningJwk('from-file'), key]));
    const fromFile = loadConfig(ApprovalEnv, { ...withoutKeys, SIGNING_KEYS_FILE: file }).signingKeys;
    expect(fromFile.activeKid).toBe('from-file');
    expect(fromFile.jwks().keys.map((k) => k.kid)).toEqual(['from-file', 'test-key']);
    expect(issues({ ...base, SIGNING_KEYS_FILE: file }).map((i) => i.variable)).toEqual(['SIGNING_KEYS']);
  });

  it('name the variable of a key set that is missing or invalid, never its content', () => {
    expect(issues({ ...withoutKeys, SIGNING_KEYS_FILE: '/nonexistent/keys.json' })).toEqual([
      { variable: 'SIGNING_KEYS_FILE', message: expect.stringMatching(/\/nonexistent\/keys\.json: ENOENT/) },
    ]);
    const publicOnly = keySetText([{ ...key, d: undefined } as never]);
    expect(issues({ ...base, SIGNING_KEYS: publicOnly })).toEqual([
      { variable: 'SIGNING_KEYS', message: expect.stringMatching(/no key has a private part/) },
    ]);
    expect(issues({ ...base, SIGNING_KEYS: `${key.d}` }).map((i) => i.variable)).toEqual(['SIGNING_KEYS']);
  });
});
