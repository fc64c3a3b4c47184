import { describe, expect, it } from 'vitest';
import { slackSignature, verifySlackSignature } from './slack-signature.js';

// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TIMESTAMP = '1531420618';
const BODY = Buffer.from(
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
);
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const now = Number(TIMESTAMP);

describe('Slack request signatures', () => {
  it("matches Slack's documented example", () => {
    expect(slackSignature(SECRET, TIMESTAMP, BODY)).toBe(SIGNATURE);
    expect(verifySlackSignature(SECRET, { signature: SIGNATURE, timestamp: TIMESTAMP }, BODY, now)).toEqual({
      ok: true,
    });
  });

  it('refuses a forged signature, another secret, a changed body and missing headers', () => {
    const check = (
      signature: string | undefined,
      timestamp: string | undefined,
      body = BODY,
      secret = SECRET,
    ) => verifySlackSignature(secret, { signature, timestamp }, body, now);
    expect(check(`v0=${'0'.repeat(64)}`, TIMESTAMP)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(check(SIGNATURE.slice(0, -1), TIMESTAMP)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(check(SIGNATURE, TIMESTAMP, BODY, 'another-secret')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(check(SIGNATURE, TIMESTAMP, Buffer.concat([BODY, Buffer.from('&x=1')]))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    // The timestamp is signed: moving it into the window breaks the signature.
    expect(
      verifySlackSignature(SECRET, { signature: SIGNATURE, timestamp: String(now + 1) }, BODY, now + 1),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(check(undefined, TIMESTAMP)).toEqual({ ok: false, reason: 'missing_headers' });
    expect(check(SIGNATURE, undefined)).toEqual({ ok: false, reason: 'missing_headers' });
    expect(check(SIGNATURE, '15e9')).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it('refuses a valid signature outside the five-minute window (a replay)', () => {
    const at = (seconds: number) =>
      verifySlackSignature(SECRET, { signature: SIGNATURE, timestamp: TIMESTAMP }, BODY, seconds);
    expect(at(now + 300)).toEqual({ ok: true });
    expect(at(now + 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(at(now - 301)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });
});
