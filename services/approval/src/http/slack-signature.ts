/**
 * Slack's request signing (v0): `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw
 * body>">` with the app's signing secret, and `X-Slack-Request-Timestamp` in Unix seconds. The
 * signature proves the body came from Slack; the timestamp window bounds how long a captured
 * request can be replayed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's documented window: requests older (or newer) than five minutes are refused. */
export const SLACK_SIGNATURE_WINDOW_SECONDS = 300;

export type SlackSignatureCheck =
  | { ok: true }
  | { ok: false; reason: 'missing_headers' | 'stale_timestamp' | 'bad_signature' };

/** The `v0=…` signature Slack sends for `body` at `timestamp`. */
export function slackSignature(secret: string, timestamp: string, body: Buffer | string): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(body);
  return `v0=${hmac.digest('hex')}`;
}

/**
 * Checks a request's signature over its raw bytes (before any parsing: a re-encoded body would
 * not match). The comparison is constant-time, so a forger learns nothing from response times.
 */
export function verifySlackSignature(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: Buffer,
  nowSeconds: number,
): SlackSignatureCheck {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: 'missing_headers' };
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_SIGNATURE_WINDOW_SECONDS) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_signature' };
  }
  return { ok: true };
}
