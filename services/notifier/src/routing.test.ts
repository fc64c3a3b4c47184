import { describe, expect, it } from 'vitest';
import { decidedEvent, makeApproval, pendingEvent } from '../test/helpers/approvals.js';
import type { ChannelSettings } from './channel-config.js';
import { approversOf } from './directory.js';
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

  it('asks everyone holding an approver role once, never the requester', () => {
    const directory = {
      people: { alice: { email: 'a@x.example' }, bob: {}, dave: { email: 'd@x.example' } },
      roles: { finance: ['alice', 'dave'], ops: ['alice', 'bob'] },
    };
    const both = makeApproval({ requested_by: 'dave', policy: { approver_roles: ['finance', 'ops'] } });
    expect(approversOf(both, directory)).toEqual([
      { identity: 'alice', email: 'a@x.example' },
      { identity: 'bob', email: undefined },
    ]);
    expect(approversOf(makeApproval({ policy: { approver_roles: [] } }), directory)).toEqual([]);
  });
});
