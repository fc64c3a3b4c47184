import { describe, expect, it } from 'vitest';
import { CredentialIdentityError, credentialIdentity } from './credential-identity.js';

const directory = 'people:\n  john.doe: { nats_user: jdoe }\n  bob: {}\n';
const jwt = (claims: Record<string, unknown>) =>
  ['e30', Buffer.from(JSON.stringify(claims)).toString('base64url'), 'sig'].join('.');
const creds = (token: string) =>
  `-----BEGIN NATS USER JWT-----\n${token}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUAAA\n------END USER NKEY SEED------\n`;

describe('credentialIdentity', () => {
  it('maps NATS_USER to its identity through the directory, or takes it as the identity without one', () => {
    expect(credentialIdentity({ user: 'jdoe', directory })).toBe('john.doe');
    expect(credentialIdentity({ user: 'bob', directory })).toBe('bob');
    expect(credentialIdentity({ user: 'bob' })).toBe('bob');
    expect(() => credentialIdentity({ user: 'mallory', directory })).toThrow(/nobody in the directory/);
  });

  it('refuses ops for a proposal, and lets it activate', () => {
    expect(() => credentialIdentity({ user: 'ops' })).toThrow(CredentialIdentityError);
    expect(() => credentialIdentity({ user: 'ops' })).toThrow(/ops cannot propose a policy change/);
    expect(credentialIdentity({ user: 'ops', opsAllowed: true })).toBeUndefined();
  });

  it('reads the name of a NATS_CREDS user JWT', () => {
    expect(credentialIdentity({ creds: creds(jwt({ name: 'bob', sub: 'UABC' })) })).toBe('bob');
    expect(() => credentialIdentity({ creds: creds(jwt({ sub: 'UABC' })) })).toThrow(/no user JWT/);
    expect(() => credentialIdentity({ creds: 'SUAAAA' })).toThrow(/no user JWT/);
  });

  it('asks for your own credentials when there are none', () => {
    expect(() => credentialIdentity({})).toThrow(/proposed as yourself/);
    expect(credentialIdentity({ opsAllowed: true })).toBeUndefined();
  });
});
