import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { decodeWebhookSecret } from './channel-config.js';
import { signWebhook, webhookHeaders } from './webhook-signature.js';

const secret = `whsec_${Buffer.from('0123456789abcdef01234567').toString('base64')}`;
const key = decodeWebhookSecret(secret) as Buffer;

describe('Standard Webhooks signature', () => {
  it('matches the reference library and passes its verifier', () => {
    const body = JSON.stringify({ type: 'approval.decided', data: { action_id: 'a1' } });
    const at = new Date();
    const reference = new Webhook(secret).sign('evt_1', at, body);
    expect(signWebhook(key, 'evt_1', Math.floor(at.getTime() / 1000), body)).toBe(reference);
    expect(new Webhook(secret).verify(body, webhookHeaders(key, 'evt_1', body, at))).toEqual(
      JSON.parse(body),
    );
  });

  it('fails verification for another body, id or key', () => {
    const body = '{"a":1}';
    const headers = webhookHeaders(key, 'evt_2', body);
    expect(() => new Webhook(secret).verify('{"a":2}', headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_3' })).toThrow();
    const other = `whsec_${Buffer.from('another-key-of-24-bytes!').toString('base64')}`;
    expect(() => new Webhook(other).verify(body, headers)).toThrow();
  });
});
