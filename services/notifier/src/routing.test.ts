import { Directory } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { decidedEvent, makeApproval, pendingEvent } from '../test/helpers/approvals.js';
import { approversOf, emailOf } from './approvers.js';
import type { ChannelSettings } from './channel-config.js';
import { channelMatches } from './routing.js';

const markdown = (extra: Partial<ChannelSettings> = {}): ChannelSettings =>
  ({
    name: 'finance',
    type: 'markdown',
    directory: '/tmp',
    watch: false,
    route: 'all',
    filter: {},
    ...extra,
  }) as ChannelSettings;

describe('routing', () => {
  const approval = makeApproval({ policy: { notify: ['finance'], risk: 'high' } });

  it('route notify: only approvals whose policy names the channel', () => {
    expect(channelMatches(markdown({ route: 'notify' }), pendingEvent(approval))).toBe(true);
    expect(channelMatches(markdown({ route: 'notify', name: 'security' }), pendingEvent(approval))).toBe(
      false,
    );
    expect(channelMatches(markdown({ route: 'all', name: 'security' }), pendingEvent(approval))).toBe(true);
  });

  it('filters by event type, action type and risk', () => {
    expect(
      channelMatches(markdown({ filter: { events: ['approval.decided'] } }), pendingEvent(approval)),
    ).toBe(false);
    expect(
      channelMatches(markdown({ filter: { events: ['approval.decided'] } }), decidedEvent(approval)),
    ).toBe(true);
    expect(channelMatches(markdown({ filter: { action_types: ['deploy'] } }), pendingEvent(approval))).toBe(
      false,
    );
    expect(channelMatches(markdown({ filter: { action_types: ['payment'] } }), pendingEvent(approval))).toBe(
      true,
    );
    expect(channelMatches(markdown({ filter: { risks: ['critical'] } }), pendingEvent(approval))).toBe(false);
    expect(
      channelMatches(markdown({ filter: { risks: ['high', 'critical'] } }), pendingEvent(approval)),
    ).toBe(true);
  });

  it('asks every person of the directory holding an approver role once, never the requester', () => {
    const directory = Directory.parse(
      stringify({
        people: {
          alice: { email: 'a@x.example', roles: ['finance', 'ops'], slack_user: 'U0ALICE' },
          bob: { roles: ['ops'] },
          dave: { email: 'd@x.example', roles: ['finance'] },
        },
        // A requesting system holding a role is not a person to ask.
        services: { 'ops-bot': { roles: ['ops'] } },
      }),
    );
    const both = makeApproval({ requested_by: 'dave', policy: { approver_roles: ['finance', 'ops'] } });
    expect(approversOf(both, directory)).toEqual([
      { identity: 'alice', email: 'a@x.example', slackUser: 'U0ALICE' },
      { identity: 'bob', email: undefined, slackUser: undefined },
    ]);
    expect(approversOf(makeApproval({ policy: { approver_roles: [] } }), directory)).toEqual([]);
    expect(emailOf('dave', directory)).toBe('d@x.example');
    expect(emailOf('ops-bot', directory)).toBeUndefined();
  });
});
