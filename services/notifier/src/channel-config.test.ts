import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ChannelsConfigError, decodeWebhookSecret, resolveChannels } from './channel-config.js';

const secret = `whsec_${Buffer.from('a'.repeat(32)).toString('base64')}`;

function refusal(doc: unknown, env: NodeJS.ProcessEnv = {}, allowHttp = false): string {
  try {
    resolveChannels(doc, env, { allowHttp });
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelsConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the channels to be refused');
}

describe('channels file', () => {
  it('accepts the shipped example', () => {
    const example = parse(readFileSync(new URL('../channels.example.yaml', import.meta.url), 'utf8'));
    const config = resolveChannels(
      example,
      {
        ACME_WEBHOOK_SECRET: secret,
        OPS_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x',
        SLACK_BOT_TOKEN: 'xoxb-example',
      },
      { allowHttp: false },
    );
    expect(config.channels.map((c) => c.type).sort()).toEqual([
      'email',
      'markdown',
      'slack',
      'slack',
      'webhook',
    ]);
    expect(config.secrets).toContain(secret);
  });

  it('reads secrets from the environment and says which variable is missing, never a value', () => {
    const doc = {
      channels: [
        { name: 'audit', type: 'webhook', url: 'https://example.com/hook', secret_env: 'HOOK_SECRET' },
        { name: 'ops', type: 'slack', url_env: 'SLACK_URL', review_buttons: false },
      ],
    };
    const message = refusal(doc, { HOOK_SECRET: 'whsec_tooShortToBeValid' });
    expect(message).toContain('channel audit: HOOK_SECRET must be whsec_');
    expect(message).toContain('channel ops: environment variable SLACK_URL is not set');
    expect(message).not.toContain('tooShortToBeValid');

    const ok = resolveChannels(
      doc,
      { HOOK_SECRET: secret, SLACK_URL: 'https://hooks.slack.com/services/T/B/token' },
      { allowHttp: false },
    );
    const webhook = ok.channels[0];
    expect(webhook?.type === 'webhook' && webhook.key.reveal().equals(Buffer.from('a'.repeat(32)))).toBe(
      true,
    );
    expect(JSON.stringify(ok.channels)).not.toContain('token');
  });

  it('refuses http URLs unless allowed, duplicate names and unknown keys', () => {
    const hook = { name: 'h', type: 'webhook', url: 'http://example.com/hook', secret_env: 'S' };
    expect(refusal({ channels: [hook] }, { S: secret })).toContain('must be https');
    expect(() => resolveChannels({ channels: [hook] }, { S: secret }, { allowHttp: true })).not.toThrow();
    expect(refusal({ channels: [hook, hook] }, { S: secret }, true)).toContain('duplicate channel name');
    expect(refusal({ channels: [{ ...hook, secret: 'inline' }] })).toContain('secret');
    expect(refusal({ channels: [{ name: 'h', type: 'webhook', secret_env: 'S' }] }, { S: secret })).toContain(
      'give exactly one of url, url_env',
    );
  });

  it('refuses people and roles, with one message saying they moved to the directory', () => {
    const email = { name: 'm', type: 'email', from: 'a@b.example' };
    const both = refusal({
      people: { zoe: { email: 'zoe@b.example' } },
      roles: { finance: ['zoe'] },
      channels: [email],
    });
    expect(both).toBe(
      'invalid channels file: people and roles moved to the directory (DIRECTORY_FILE); remove them from the channels file and give people their email, slack_user, roles and channels there',
    );
    expect(refusal({ roles: {}, channels: [email] })).toContain(
      'roles moved to the directory (DIRECTORY_FILE)',
    );
    expect(refusal({ people: {}, channels: [email] })).toContain('people moved to the directory');
  });

  it('Slack review buttons are off unless configured', () => {
    const slack = { name: 'ops', type: 'slack', url_env: 'SLACK_URL' };
    const env = { SLACK_URL: 'https://hooks.slack.com/services/T/B/x' };
    const [byDefault] = resolveChannels({ channels: [slack] }, env, { allowHttp: false }).channels;
    expect(byDefault).toMatchObject({ type: 'slack', review_buttons: false });
    const [on] = resolveChannels({ channels: [{ ...slack, review_buttons: true }] }, env, {
      allowHttp: false,
    }).channels;
    expect(on).toMatchObject({ review_buttons: true });
  });

  it('takes the Slack app (bot token and channel id) instead of a webhook, never both', () => {
    const app = { name: 'ops', type: 'slack', token_env: 'SLACK_BOT_TOKEN', channel: 'C0OPS' };
    const env = { SLACK_BOT_TOKEN: 'xoxb-1-2-secret', SLACK_URL: 'https://hooks.slack.com/services/T/B/x' };
    const config = resolveChannels({ channels: [app] }, env, { allowHttp: false });
    expect(config.channels[0]).toMatchObject({
      type: 'slack',
      app: { channel: 'C0OPS', apiUrl: 'https://slack.com/api/' },
    });
    // The token is scrubbed from error text like every secret.
    expect(config.secrets).toContain('xoxb-1-2-secret');
    expect(refusal({ channels: [{ ...app, url_env: 'SLACK_URL' }] })).toContain(
      'give exactly one of url_env (incoming webhook), token_env (Slack app)',
    );
    expect(refusal({ channels: [{ name: 'ops', type: 'slack', token_env: 'SLACK_BOT_TOKEN' }] })).toContain(
      'channels.0.channel: required with token_env',
    );
    expect(refusal({ channels: [{ ...app, channel: '#ops' }] })).toContain('must be a Slack channel id');
    expect(() =>
      resolveChannels({ channels: [{ ...app, api_url: 'http://127.0.0.1:1/api/' }] }, env, {
        allowHttp: false,
      }),
    ).toThrow('api_url must be https');
  });

  it('refuses two markdown channels on one folder: a file belongs to one channel', () => {
    const folder = (name: string, directory: string) => ({ name, type: 'markdown', directory });
    const message = refusal({ channels: [folder('a', '/srv/approvals'), folder('b', '/srv/approvals/')] });
    expect(message).toContain('channel b: directory /srv/approvals/ is also channel a');
    expect(() =>
      resolveChannels({ channels: [folder('a', '/srv/a'), folder('b', '/srv/b')] }, {}, { allowHttp: false }),
    ).not.toThrow();
  });

  it('decodes Standard Webhooks secrets of 24 to 64 bytes', () => {
    expect(decodeWebhookSecret(`whsec_${Buffer.alloc(24, 1).toString('base64')}`)?.length).toBe(24);
    expect(decodeWebhookSecret(`whsec_${Buffer.alloc(16, 1).toString('base64')}`)).toBeUndefined();
    expect(decodeWebhookSecret(Buffer.alloc(32, 1).toString('base64'))).toBeUndefined();
  });
});
