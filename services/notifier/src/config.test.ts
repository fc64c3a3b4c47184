import { inspect } from 'node:util';
import { loadConfig } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE, NotifierEnv } from './config.js';
import { createScrubber, Secret } from './secret.js';

const loadNotifierConfig = (env: NodeJS.ProcessEnv) => loadConfig(NotifierEnv, env);

const base = {
  DATABASE_URL: 'postgres://notifier:db-pass-123@db/notifier',
  NOTIFIER_CONFIG: '/etc/countersign/channels.yaml',
  DIRECTORY_FILE: '/etc/countersign/directory.yaml',
};

describe('notifier config', () => {
  it('applies defaults, with Svix-like retries and a lease longer than any attempt', () => {
    const config = loadNotifierConfig(base);
    expect(config.retry.schedule).toHaveLength(DEFAULT_RETRY_SCHEDULE.split(',').length);
    expect(config.retry.schedule.slice(0, 3)).toEqual([0, 5000, 300_000]);
    expect(config.leaseMs).toBe(60_000);
    expect(config.env.WEBHOOK_ALLOW_HTTP).toBe(false);
    expect(config.env.NOTIFIER_IDENTITY).toBe('notifier');
    expect(config.env.WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });

  it('keeps rows for safe defaults, 0 keeps them for ever, and events outlive the event stream', () => {
    const day = 86_400_000;
    expect(loadNotifierConfig(base).retention).toEqual({
      intervalMs: 3_600_000,
      batchSize: 1000,
      deliveriesMs: 30 * day,
      deadLettersMs: 90 * day,
      eventsMs: 60 * day,
    });
    expect(
      loadNotifierConfig({ ...base, RETENTION_DELIVERIES: '0', RETENTION_EVENTS: '0' }).retention,
    ).toMatchObject({
      deliveriesMs: null,
      eventsMs: null,
    });
    // Shorter than APPROVAL_EVENTS keeps events: a replayed event would be notified twice.
    expect(() => loadNotifierConfig({ ...base, RETENTION_EVENTS: '7d' })).toThrow(
      /RETENTION_EVENTS: must be 0 or at least 31d/,
    );
  });

  it('names bad variables without echoing their values', () => {
    const attempt = () =>
      loadNotifierConfig({
        ...base,
        REVIEW_LINK_SECRET: 'too-short-secret',
        NOTIFIER_RETRY_SCHEDULE: 'soon',
      });
    expect(attempt).toThrow(/REVIEW_LINK_SECRET: must be at least 32 characters/);
    expect(attempt).toThrow(/NOTIFIER_RETRY_SCHEDULE/);
    try {
      attempt();
    } catch (err) {
      expect((err as Error).message).not.toContain('too-short-secret');
    }
  });

  it('takes NOTIFIER_IDENTITY only as a canonical identity', () => {
    expect(loadNotifierConfig({ ...base, NOTIFIER_IDENTITY: 'relay-2' }).env.NOTIFIER_IDENTITY).toBe(
      'relay-2',
    );
    expect(() => loadNotifierConfig({ ...base, NOTIFIER_IDENTITY: 'Notifier' })).toThrow(/"notifier"/);
    expect(() => loadNotifierConfig({ ...base, NOTIFIER_IDENTITY: 'noti\u200bfier' })).toThrow(
      /NOTIFIER_IDENTITY/,
    );
  });

  it('refuses a lease shorter than an attempt can take', () => {
    expect(() => loadNotifierConfig({ ...base, SMTP_TIMEOUT: '30s', NOTIFIER_LEASE: '10s' })).toThrow(
      /NOTIFIER_LEASE/,
    );
  });

  it('keeps secrets out of JSON, inspect and string conversion', () => {
    const config = loadNotifierConfig({ ...base, SMTP_URL: 'smtp://u:smtp-pass-456@mail:587' });
    const printed = [JSON.stringify(config), inspect(config, { depth: 10 }), `${config.env.SMTP_URL}`].join(
      '\n',
    );
    expect(printed).not.toContain('smtp-pass-456');
    expect(printed).not.toContain('db-pass-123');
    expect(config.env.SMTP_URL?.reveal()).toBe('smtp://u:smtp-pass-456@mail:587');
  });
});

describe('scrubber', () => {
  it('removes secrets in plain, URL-encoded and base64 forms', () => {
    const scrub = createScrubber(['p@ss/word!', 'short']);
    const text = `a p@ss/word! b ${encodeURIComponent('p@ss/word!')} c ${Buffer.from('p@ss/word!').toString('base64')} short`;
    expect(scrub(text)).toBe('a [redacted] b [redacted] c [redacted] short');
    expect(new Secret('x').toJSON()).toBe('[redacted]');
  });
});
