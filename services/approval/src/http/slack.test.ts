import { CountersignError, SlackActions } from '@countersign/contracts';
import { describe, expect, it } from 'vitest';
import { answerText, clickOf } from './slack.js';

const payload = (overrides: Record<string, unknown> = {}) => ({
  type: 'block_actions',
  user: { id: 'U0FRANK' },
  response_url: 'https://hooks.slack.com/actions/T/1/x',
  actions: [{ action_id: SlackActions.approve, value: 'pay-1' }],
  ...overrides,
});

describe('Slack clicks', () => {
  it('reads Approve and Reject; the clicker is the signed user, the value only names the approval', () => {
    expect(clickOf(payload())).toEqual({
      slackUser: 'U0FRANK',
      actionId: 'pay-1',
      approved: true,
      responseUrl: 'https://hooks.slack.com/actions/T/1/x',
    });
    expect(
      clickOf(payload({ actions: [{ action_id: SlackActions.reject, value: 'pay-1' }] }))?.approved,
    ).toBe(false);
  });

  it('ignores interactions that are not its buttons', () => {
    expect(clickOf(payload({ type: 'view_submission' }))).toBeUndefined();
    expect(clickOf(payload({ actions: [{ action_id: 'other', value: 'pay-1' }] }))).toBeUndefined();
    expect(clickOf(payload({ actions: [{ action_id: SlackActions.approve }] }))).toBeUndefined();
    expect(clickOf(payload({ user: undefined }))).toBeUndefined();
    expect(clickOf('not an object')).toBeUndefined();
  });

  it('tells a stale click who decided', () => {
    const error = new CountersignError('already_decided', 'closed', {
      status: 'approved',
      decided_by: 'frank',
      decided_at: '2026-12-03T10:00:00.000Z',
    });
    expect(answerText({ error })).toBe('Already decided by frank: approved at 2026-12-03T10:00:00.000Z.');
    expect(answerText({ error: new CountersignError('expired', 'gone') })).toContain('expired');
    expect(answerText({ error: new CountersignError('forbidden', 'frank is not in finance') })).toBe(
      'Not recorded: frank is not in finance',
    );
  });
});
