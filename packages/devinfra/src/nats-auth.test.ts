import { describe, expect, it } from 'vitest';
import {
  NatsAuth,
  NatsAuthError,
  type NatsDirectory,
  natsAuthConfig,
  natsUsers,
  passwordVariable,
} from './nats-auth.js';

const directory = (entries: [id: string, natsUser?: string][]): NatsDirectory => ({
  principals: () => entries.map(([id, natsUser]) => ({ id, nats_user: natsUser ?? id })),
});

const sample = directory([['frank'], ['bob'], ['billing-job'], ['notifier'], ['john.doe', 'jdoe']]);

describe('natsUsers', () => {
  it('gives each principal publish rights under its own identity only, and its own inbox', () => {
    const bob = natsUsers(sample).find((u) => u.user === 'bob');
    expect(bob?.identity).toBe('bob');
    const publish = bob?.permissions?.publish ?? [];
    expect(publish).toContain('approval.decide.bob');
    expect(publish).toContain('approval.requested.bob');
    for (const subject of publish) {
      expect(subject).not.toMatch(/frank|\*|^approval\.(decide|cancel|submit|report|requested)(\.>)?$/);
    }
    expect(bob?.permissions?.subscribe).toEqual(['approval.decided.>', '_INBOX_bob.>']);
    expect(bob?.permissions?.allowResponses).toBeUndefined();
  });

  it('keeps a dotted identity in one inbox token, so a shorter name cannot read its replies', () => {
    const jdoe = natsUsers(sample).find((u) => u.user === 'jdoe');
    expect(jdoe?.permissions?.publish).toContain('approval.decide.john.doe');
    expect(jdoe?.permissions?.subscribe).toContain('_INBOX_john~doe.>');
  });

  it('merges the directory notifier into the notifier service user: it relays decisions as notifier', () => {
    const notifiers = natsUsers(sample).filter((u) => u.user === 'notifier');
    expect(notifiers).toHaveLength(1);
    expect(notifiers[0]?.permissions?.publish).toContain('approval.decide.notifier');
    expect(notifiers[0]?.permissions?.publish).toContain('$JS.ACK.APPROVAL_EVENTS.>');
    expect(notifiers[0]?.permissions?.publish).not.toContain('approval.decide.frank');
  });

  it('lets a gateway publish as the agents it acts for, and as nobody else', () => {
    const gateway = natsUsers({
      principals: () => [
        { id: 'agent-a', nats_user: 'agent-a' },
        { id: 'agent-b', nats_user: 'agent-b' },
        { id: 'mcp-gateway', nats_user: 'mcp-gateway', acts_for: ['agent-a'] },
      ],
    }).find((u) => u.user === 'mcp-gateway');
    const publish = gateway?.permissions?.publish ?? [];
    expect(publish).toEqual(
      expect.arrayContaining([
        'approval.requested.mcp-gateway',
        'approval.requested.agent-a',
        'approval.submit.agent-a',
        'approval.decide.agent-a',
        'approval.report.agent-a',
      ]),
    );
    for (const subject of publish) expect(subject).not.toMatch(/agent-b/);
    expect(gateway?.permissions?.subscribe).toEqual(['approval.decided.>', '_INBOX_mcp-gateway.>']);
  });

  it('refuses a directory entry that would log in as a Countersign service', () => {
    for (const user of ['approval', 'policy', 'ops']) {
      expect(() => natsUsers(directory([['mallory', user]]))).toThrow(NatsAuthError);
    }
  });

  it('lets a person, and no requesting system, propose policy changes under their own identity only', () => {
    const users = natsUsers({
      principals: () => [
        { id: 'bob', nats_user: 'bob', kind: 'person' },
        { id: 'billing-job', nats_user: 'billing-job', kind: 'service' },
      ],
    });
    const bob = users.find((u) => u.user === 'bob')?.permissions?.publish ?? [];
    expect(bob).toContain('policy.propose.bob');
    expect(bob).toContain('policy.activate');
    expect(bob.filter((s) => s.startsWith('policy.propose'))).toEqual(['policy.propose.bob']);
    const job = users.find((u) => u.user === 'billing-job')?.permissions?.publish ?? [];
    expect(job.filter((s) => s.startsWith('policy.propose') || s === 'policy.activate')).toEqual([]);
  });

  it('leaves ops everything but proposing a policy change, and the services answering requests', () => {
    const users = natsUsers(sample);
    expect(users.find((u) => u.user === 'ops')?.permissions).toEqual({
      publish: ['>'],
      publishDeny: ['policy.propose', 'policy.propose.>'],
      subscribe: ['>'],
    });
    expect(users.find((u) => u.user === 'approval')?.permissions?.subscribe).toContain('approval.decide.>');
    expect(users.find((u) => u.user === 'approval')?.permissions?.allowResponses).toBe(true);
  });
});

describe('natsAuthConfig', () => {
  it('writes literal passwords quoted, and refuses a missing one', () => {
    const auth = NatsAuth.of(sample, { frank: 'pa"ss' });
    expect(auth.passwords.frank).toBe('pa"ss');
    expect(auth.config()).toContain('{ user: "frank", password: "pa\\"ss", permissions: {  # frank');
    expect(() => natsAuthConfig(sample, { frank: 'x' })).toThrow(/no password for NATS user/);
  });

  it('reads each password from its own environment variable for compose', () => {
    const text = natsAuthConfig(sample, 'environment');
    expect(text).toContain(
      '{ user: "billing-job", password: $COUNTERSIGN_NATS_BILLING_JOB_PASSWORD, permissions:',
    );
    expect(text).toContain('{ user: "ops", password: $COUNTERSIGN_NATS_OPS_PASSWORD, permissions:');
    expect(text).toContain(
      'publish: { allow: [\n          ">"\n        ], deny: [\n          "policy.propose",',
    );
    expect(passwordVariable('john.doe')).toBe('COUNTERSIGN_NATS_JOHN_DOE_PASSWORD');
    // Two users whose variables would collide are refused rather than sharing a password.
    expect(() => natsAuthConfig(directory([['a-b'], ['a_b']]), 'environment')).toThrow(/would share/);
  });
});

describe('NatsAuth', () => {
  it('logs a service in as its user and an identity as its user with its inbox prefix', () => {
    const auth = NatsAuth.of(sample);
    expect(auth.login('approval')).toEqual({ user: 'approval', password: auth.passwords.approval });
    expect(auth.login('john.doe')).toEqual({
      user: 'jdoe',
      password: auth.passwords.jdoe,
      inboxPrefix: '_INBOX_john~doe',
    });
    expect(auth.env('bob', 'nats://x')).toEqual({
      NATS_URL: 'nats://x',
      NATS_USER: 'bob',
      NATS_PASSWORD: auth.passwords.bob,
      NATS_INBOX_PREFIX: '_INBOX_bob',
    });
    expect(() => auth.login('mallory')).toThrow(NatsAuthError);
    expect(new Set(Object.values(auth.passwords)).size).toBe(Object.keys(auth.passwords).length);
  });
});
