import { Directory } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { isOidcFingerprint, oidcSessionStands, subjectFingerprint } from './oidc.js';

const issuer = 'https://login.example';
const directory = Directory.parse(`
people:
  frank: { email: frank@example.test }
  grace: { email: grace@example.test, oidc: { subject: sub-grace } }
services:
  billing-job: { may_request: [payment] }
`);

describe('OpenID sessions', () => {
  it('fingerprint the issuer and subject without showing either', () => {
    const fingerprint = subjectFingerprint(issuer, 'sub-frank');
    expect(isOidcFingerprint(fingerprint)).toBe(true);
    expect(fingerprint).not.toContain('sub-frank');
    expect(subjectFingerprint('https://other.example', 'sub-frank')).not.toBe(fingerprint);
  });

  it('stand while the directory lists the person, and only for the subject an entry names', () => {
    expect(oidcSessionStands(directory, issuer, 'frank', subjectFingerprint(issuer, 'sub-frank'))).toBe(true);
    expect(oidcSessionStands(directory, issuer, 'grace', subjectFingerprint(issuer, 'sub-grace'))).toBe(true);
    // Another account at the provider that once matched grace's email.
    expect(oidcSessionStands(directory, issuer, 'grace', subjectFingerprint(issuer, 'sub-other'))).toBe(
      false,
    );
    expect(oidcSessionStands(directory, issuer, 'mallory', subjectFingerprint(issuer, 'sub-m'))).toBe(false);
    expect(oidcSessionStands(directory, issuer, 'billing-job', subjectFingerprint(issuer, 'x'))).toBe(false);
    // A token fingerprint is not an OpenID one.
    expect(oidcSessionStands(directory, issuer, 'frank', 'AbCdEfGhIjKlMnOpQrStUv')).toBe(false);
    const without = Directory.parse('people:\n  grace: { oidc: { subject: sub-grace } }\n');
    expect(oidcSessionStands(without, issuer, 'frank', subjectFingerprint(issuer, 'sub-frank'))).toBe(false);
  });
});
