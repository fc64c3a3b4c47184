/**
 * Delegation against the real services: who could claim to vote as someone else? The requester
 * through a delegate, a delegate without (or after) a delegation, a delegate of a delegate, a
 * stranger revoking or creating someone else's delegation. And the one thing allowed: a delegate's
 * vote, recorded on behalf of the delegator, over NATS and over HTTP, every change audited.
 */
import { describe, expect, it } from 'vitest';
import { startHttpHarness } from './http-support.js';
import { call, refusal, request } from './support.js';

const h = await startHttpHarness('delegation');

const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();
const reasonCodes = (err: { details?: Record<string, unknown> }) =>
  ((err.details?.reasons as { code: string }[] | undefined) ?? []).map((r) => r.code);

/** A payment needing one finance approver (frank, alice), requested by `requested_by`. */
const payment = (requested_by = 'dave') =>
  call(h.nc, 'submit', request('deleg-pay', { requested_by, context: { amount: 1500 } }));

const delegateAs = (delegator: string, delegate: string, extra: { role?: string; ends_at?: string } = {}) =>
  call(h.nc, 'delegate', { delegate, ends_at: inOneHour(), ...extra }, { as: delegator });

const voteFor = (actor: string, action_id: string, on_behalf_of: string) =>
  call(h.nc, 'decide', { action_id, approved: true, on_behalf_of }, { as: actor });

describe('a delegate votes on behalf of the delegator', () => {
  it('records the vote as eve on behalf of frank, and approves with frank’s role', async () => {
    const grant = await delegateAs('frank', 'eve');
    expect(grant).toMatchObject({ delegator: 'frank', delegate: 'eve', role: null, revoked_at: null });
    const pending = await payment();
    const decided = await voteFor('eve', pending.action_id, 'frank');
    expect(decided.status).toBe('approved');
    expect(decided.votes).toEqual([
      expect.objectContaining({ voter: 'eve', on_behalf_of: 'frank', approved: true }),
    ]);
    const { history } = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(history.find((e) => e.event === 'voted')).toMatchObject({
      actor: 'eve',
      data: { approved: true, on_behalf_of: 'frank' },
    });
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' });
  });

  it('refuses a vote as a delegate without a delegation in force (not_delegated)', async () => {
    const pending = await payment();
    const err = await refusal(voteFor('eve', pending.action_id, 'alice'));
    expect(err.code).toBe('forbidden');
    expect(reasonCodes(err)).toContain('not_delegated');
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).votes).toEqual([]);
  });

  it('stops letting the delegate vote once the delegation is revoked, and audits both changes', async () => {
    const grant = await delegateAs('frank', 'eve');
    const revoked = await call(h.nc, 'undelegate', { id: grant.id }, { as: 'eve' });
    expect(revoked).toMatchObject({ revoked_by: 'eve' });
    const pending = await payment();
    expect(reasonCodes(await refusal(voteFor('eve', pending.action_id, 'frank')))).toContain('not_delegated');
    const events = await h.pool.query(
      'select event, actor from approval.delegation_events where delegation_id = $1 order by seq',
      [grant.id],
    );
    expect(events.rows).toEqual([
      { event: 'delegated', actor: 'frank' },
      { event: 'revoked', actor: 'eve' },
    ]);
    // revoked is final
    expect((await refusal(call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' }))).code).toBe(
      'already_decided',
    );
    // the audit trail is append-only
    await expect(
      h.pool.query('delete from approval.delegation_events where delegation_id = $1', [grant.id]),
    ).rejects.toThrow(/append-only/);
  });
});

describe('the requester can never approve through a delegate', () => {
  it('refuses frank’s delegate on frank’s own request', async () => {
    const grant = await delegateAs('frank', 'eve');
    const mine = await payment('frank');
    const err = await refusal(voteFor('eve', mine.action_id, 'frank'));
    expect(reasonCodes(err)).toEqual(['self_approval']);
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' });
  });

  it('refuses a delegate who is the requester', async () => {
    const grant = await delegateAs('frank', 'eve');
    const hers = await payment('eve');
    const err = await refusal(voteFor('eve', hers.action_id, 'frank'));
    expect(reasonCodes(err)).toEqual(['self_approval']);
    expect((await call(h.nc, 'get', { action_id: hers.action_id })).votes).toEqual([]);
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' });
  });
});

describe('what a delegation cannot do', () => {
  it('does not chain: frank -> eve -> dave gives dave eve’s own roles (none)', async () => {
    const first = await delegateAs('frank', 'eve');
    const second = await delegateAs('eve', 'dave');
    const pending = await payment('billing-job');
    expect(reasonCodes(await refusal(voteFor('dave', pending.action_id, 'eve')))).toEqual(['missing_role']);
    expect(reasonCodes(await refusal(voteFor('dave', pending.action_id, 'frank')))).toContain(
      'not_delegated',
    );
    // nor can eve delegate a role she holds only by delegation
    expect(reasonCodes(await refusal(delegateAs('eve', 'dave', { role: 'finance' })))).toEqual([
      'role_not_held',
    ]);
    await call(h.nc, 'undelegate', { id: first.id }, { as: 'frank' });
    await call(h.nc, 'undelegate', { id: second.id }, { as: 'eve' });
  });

  it('passes only the named role', async () => {
    const grant = await delegateAs('alice', 'eve', { role: 'ops' });
    const pending = await payment();
    expect(reasonCodes(await refusal(voteFor('eve', pending.action_id, 'alice')))).toEqual(['missing_role']);
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'alice' });
  });

  it('counts a person once, whether they or their delegate vote', async () => {
    const grant = await delegateAs('frank', 'eve');
    // two approvals needed: frank votes himself, then eve may not add a second vote for him
    const dual = await call(
      h.nc,
      'submit',
      request('deleg-dual', { requested_by: 'dave', context: { amount: 20_000 } }),
    );
    expect(dual.required_approvals).toBe(2);
    await call(h.nc, 'decide', { action_id: dual.action_id, approved: true }, { as: 'frank' });
    expect(reasonCodes(await refusal(voteFor('eve', dual.action_id, 'frank')))).toEqual(['already_voted']);
    expect((await call(h.nc, 'get', { action_id: dual.action_id })).status).toBe('pending');
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' });
  });

  it('refuses delegating someone else’s approvals, to oneself, to a system, or for too long', async () => {
    const mismatch = await refusal(
      call(h.nc, 'delegate', { delegator: 'frank', delegate: 'eve', ends_at: inOneHour() }, { as: 'eve' }),
    );
    expect(reasonCodes(mismatch)).toEqual(['actor_mismatch']);
    expect(reasonCodes(await refusal(delegateAs('frank', 'frank')))).toEqual(['self_delegation']);
    expect(reasonCodes(await refusal(delegateAs('frank', 'billing-job')))).toEqual(['not_a_person']);
    expect(reasonCodes(await refusal(delegateAs('billing-job', 'frank')))).toEqual(['not_a_person']);
    const past = await refusal(delegateAs('frank', 'eve', { ends_at: '2020-01-01T00:00:00Z' }));
    expect(past.code).toBe('invalid_request');
    const long = await refusal(delegateAs('frank', 'eve', { ends_at: '2099-01-01T00:00:00Z' }));
    expect(long.code).toBe('invalid_request');
  });

  it('lets only the delegator or the delegate revoke (anyone else: not found)', async () => {
    const grant = await delegateAs('frank', 'eve');
    expect((await refusal(call(h.nc, 'undelegate', { id: grant.id }, { as: 'alice' }))).code).toBe(
      'not_found',
    );
    const listed = await call(h.nc, 'delegations', { person: 'eve', active: true });
    expect(listed.items.map((d) => d.id)).toContain(grant.id);
    await call(h.nc, 'undelegate', { id: grant.id }, { as: 'frank' });
    const after = await call(h.nc, 'delegations', { person: 'eve', active: true });
    expect(after.items.map((d) => d.id)).not.toContain(grant.id);
  });
});

describe('delegations over HTTP', () => {
  it('creates, uses and revokes a delegation as the token’s identity', async () => {
    const forged = await h.api('POST', '/api/v1/delegations', {
      as: 'bob',
      body: { delegator: 'frank', delegate: 'bob', ends_at: inOneHour() },
    });
    expect(forged.status).toBe(403);
    expect(forged.json.error.details.reasons[0].code).toBe('actor_mismatch');

    const created = await h.api('POST', '/api/v1/delegations', {
      as: 'frank',
      body: { delegate: 'bob', role: 'finance', ends_at: inOneHour() },
    });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ delegator: 'frank', delegate: 'bob', role: 'finance' });

    const pending = await payment();
    const voted = await h.api('POST', `/api/v1/approvals/${pending.action_id}/decide`, {
      as: 'bob',
      body: { approved: true, on_behalf_of: 'frank' },
    });
    expect(voted.status).toBe(200);
    expect(voted.json.votes).toEqual([expect.objectContaining({ voter: 'bob', on_behalf_of: 'frank' })]);

    const listed = await h.api('GET', '/api/v1/delegations?person=frank&active=true', { as: 'dave' });
    expect(listed.json.items.map((d: { id: string }) => d.id)).toContain(created.json.id);

    const stranger = await h.api('POST', `/api/v1/delegations/${created.json.id}/revoke`, {
      as: 'grace',
      body: {},
    });
    expect(stranger.status).toBe(404);
    const revoked = await h.api('POST', `/api/v1/delegations/${created.json.id}/revoke`, {
      as: 'frank',
      body: {},
    });
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked_by).toBe('frank');
  });
});
