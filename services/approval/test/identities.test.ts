/**
 * Who acts on the NATS door and the intake: the identity in the subject, never the payload's
 * claim; every name variant is one identity or refused; unknown identities, systems asking for
 * what they may not, relays for people not on their channel are refused. Against the real
 * services and the test directory (packages/test-fixtures/directory.yaml). That NATS lets a user
 * publish only under its own identity is proven against an authenticating nats-server in
 * test/nats-identity.test.ts; here the harness's connection may publish under any.
 */
import { type Approval, Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { call, decidedEvent, refusal, request, startHarness } from './support.js';

const h = await startHarness('identities');

/** A raw request to a subject: what any NATS client can send, no SDK in between. */
async function raw(
  subject: string,
  body: unknown,
): Promise<{ code?: string; json: Record<string, unknown> }> {
  const reply = await h.nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
  const json = reply.json<Record<string, unknown>>();
  const error = json.error as { code?: string } | undefined;
  return { json, ...(error?.code ? { code: error.code } : {}) };
}

const reasonsOf = (json: Record<string, unknown>) =>
  ((json.error as { details?: { reasons?: { code: string }[] } }).details?.reasons ?? []).map((r) => r.code);

const pendingPayment = (requested_by = 'dave') =>
  call(h.nc, 'submit', request('id-pay', { requested_by, context: { amount: 1500 } }));

/** The recorded approval of an intake message, once the intake has written it. */
const recorded = (action_id: string): Promise<Approval> =>
  waitUntil(() => call(h.nc, 'get', { action_id }).catch(() => undefined), {
    message: `${action_id} to be recorded`,
  });

describe('the actor of a command is the identity its subject names', () => {
  it('refuses a payload naming someone else (actor_mismatch): bob cannot vote as frank', async () => {
    const pending = await pendingPayment();
    const forged = await raw('approval.decide.bob', {
      action_id: pending.action_id,
      approved: true,
      decided_by: 'frank',
    });
    expect(forged.code).toBe('forbidden');
    expect(reasonsOf(forged.json)).toEqual(['actor_mismatch']);
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).votes).toEqual([]);
  });

  it('takes the actor from the subject when the payload names nobody', async () => {
    const pending = await pendingPayment();
    const voted = await raw('approval.decide.frank', { action_id: pending.action_id, approved: true });
    expect(voted.json).toMatchObject({ status: 'approved', decided_by: 'frank' });
  });

  it('treats case, surrounding space and NFKC forms in the payload as the same identity', async () => {
    for (const variant of ['Frank', ' frank ', 'FRANK', '\uff46\uff52\uff41\uff4e\uff4b']) {
      const pending = await pendingPayment();
      const voted = await raw('approval.decide.frank', {
        action_id: pending.action_id,
        approved: true,
        decided_by: variant,
      });
      expect({ variant, voted: voted.json }).toMatchObject({ variant, voted: { decided_by: 'frank' } });
    }
  });

  it('refuses zero-width, bidi and mixed-script names as invalid_request naming the field', async () => {
    const pending = await pendingPayment();
    for (const variant of ['fr\u200bank', '\u202efrank', 'fr\u0430nk', 'frank\u0000']) {
      const answer = await raw('approval.decide.frank', {
        action_id: pending.action_id,
        approved: true,
        decided_by: variant,
      });
      expect({ variant, code: answer.code }).toEqual({ variant, code: 'invalid_request' });
      const fields = (answer.json.error as { details: { fields: { path: string }[] } }).details.fields;
      expect(fields.map((f) => f.path)).toEqual(['decided_by']);
    }
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).votes).toEqual([]);
  });

  it('refuses a subject naming a non-canonical or unknown identity, and the bare subject', async () => {
    const pending = await pendingPayment();
    const body = { action_id: pending.action_id, approved: true };
    for (const subject of ['approval.decide.Frank', 'approval.decide.mallory']) {
      const answer = await raw(subject, body);
      expect({ subject, code: answer.code, reasons: reasonsOf(answer.json) }).toEqual({
        subject,
        code: 'forbidden',
        reasons: ['unknown_identity'],
      });
    }
    const bare = await raw('approval.decide', { ...body, decided_by: 'frank' });
    expect({ code: bare.code, reasons: reasonsOf(bare.json) }).toEqual({
      code: 'forbidden',
      reasons: ['identity_required'],
    });
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).status).toBe('pending');
  });

  it('never lets a requester approve its own request under another spelling', async () => {
    const pending = await call(
      h.nc,
      'submit',
      request('id-self', { requested_by: 'ALICE', context: { amount: 1500 } }),
    );
    expect(pending.requested_by).toBe('alice');
    const self = await raw('approval.decide.alice', {
      action_id: pending.action_id,
      approved: true,
      decided_by: ' Alice',
    });
    expect({ code: self.code, reasons: reasonsOf(self.json) }).toEqual({
      code: 'forbidden',
      reasons: ['self_approval'],
    });
  });

  it('refuses submit, cancel and report naming someone else', async () => {
    const asCarol = await raw('approval.submit.bob', request('id-sub', { requested_by: 'carol' }));
    expect(reasonsOf(asCarol.json)).toEqual(['actor_mismatch']);
    const pending = await pendingPayment();
    const cancel = await raw('approval.cancel.bob', { action_id: pending.action_id, cancelled_by: 'dave' });
    expect(reasonsOf(cancel.json)).toEqual(['actor_mismatch']);
    const report = await raw('approval.report.bob', {
      action_id: pending.action_id,
      outcome: 'executed',
      reported_by: 'dave',
    });
    expect(reasonsOf(report.json)).toEqual(['actor_mismatch']);
  });
});

describe('who may cancel, resume and report is the policy', () => {
  it('lets the requester, an eligible approver or an operator cancel, and nobody else', async () => {
    for (const who of ['eve', 'erin', 'bob']) {
      const pending = await pendingPayment();
      const refused = await refusal(call(h.nc, 'cancel', { action_id: pending.action_id }, { as: who }));
      expect({ who, code: refused.code }).toEqual({ who, code: 'forbidden' });
    }
    for (const who of ['dave', 'frank', 'carol']) {
      const pending = await pendingPayment();
      const cancelled = await call(h.nc, 'cancel', { action_id: pending.action_id }, { as: who });
      expect({ who, cancelled }).toMatchObject({ who, cancelled: { status: 'cancelled', decided_by: who } });
    }
  });

  it('lets only the requester report the outcome', async () => {
    const approved = await call(h.nc, 'submit', request('id-rep', { context: { amount: 10 } }));
    const refused = await refusal(
      call(h.nc, 'report', { action_id: approved.action_id, outcome: 'executed' }, { as: 'frank' }),
    );
    expect(refused.details?.reasons).toEqual([expect.objectContaining({ code: 'not_requester' })]);
    const reported = await call(
      h.nc,
      'report',
      { action_id: approved.action_id, outcome: 'executed' },
      { as: 'dave' },
    );
    expect(reported.status).toBe('approved');
  });
});

describe('requests a requester may not make', () => {
  it('refuses a system asking for an action type the directory does not list for it', async () => {
    const deploy = request('id-deploy', { action_type: 'deploy', requested_by: 'billing-job' });
    const refused = await refusal(call(h.nc, 'submit', deploy));
    expect(refused.details?.reasons).toEqual([expect.objectContaining({ code: 'not_allowed_to_request' })]);
    // Refused before anything is recorded: the action_id stays free.
    expect((await refusal(call(h.nc, 'get', { action_id: deploy.action_id }))).code).toBe('not_found');
    const allowed = await call(
      h.nc,
      'submit',
      request('id-pay', { requested_by: 'billing-job', context: { amount: 10 } }),
    );
    expect(allowed.status).toBe('approved');
  });

  it('refuses an identity the directory does not know', async () => {
    const refused = await refusal(call(h.nc, 'submit', request('id-unknown', { requested_by: 'mallory' })));
    expect(refused.details?.reasons).toEqual([expect.objectContaining({ code: 'unknown_identity' })]);
  });
});

describe('the intake binds a request to the identity of its subject', () => {
  it('records a request claiming another requester as rejected, under the proven identity', async () => {
    // carol holds the bypass role: a claim to be her would be auto-approved.
    const claim = request('id-intake-claim', { requested_by: 'carol', context: { amount: 1500 } });
    await h.js.publish(Subjects.requestedBy('bob'), JSON.stringify(claim));
    const approval = await recorded(claim.action_id);
    expect(approval).toMatchObject({ status: 'rejected', decided_by: 'countersign', requested_by: 'bob' });
    expect(approval.policy.reasons.map((r) => r.code)).toEqual(['actor_mismatch']);
    expect((await decidedEvent(h.nc, claim.action_id)).data.status).toBe('rejected');
  });

  it('accepts name variants of the subject identity as that identity', async () => {
    const variant = request('id-intake-variant', { requested_by: ' DAVE ', context: { amount: 10 } });
    await h.js.publish(Subjects.requestedBy('dave'), JSON.stringify(variant));
    expect(await recorded(variant.action_id)).toMatchObject({ status: 'approved', requested_by: 'dave' });
  });

  it('refuses the bare subject, unknown identities and action types a system may not request', async () => {
    const cases = [
      { subject: Subjects.requested, body: request('id-intake-bare'), reason: 'identity_required' },
      {
        subject: Subjects.requestedBy('mallory'),
        body: request('id-intake-mallory', { requested_by: 'mallory' }),
        reason: 'unknown_identity',
      },
      {
        subject: Subjects.requestedBy('billing-job'),
        body: request('id-intake-type', { requested_by: 'billing-job', action_type: 'deploy' }),
        reason: 'not_allowed_to_request',
      },
    ];
    for (const { subject, body } of cases) await h.js.publish(subject, JSON.stringify(body));
    for (const { body, reason } of cases) {
      const approval = await recorded(body.action_id);
      expect({ reason, approval }).toMatchObject({
        reason,
        approval: { status: 'rejected', decided_by: 'countersign' },
      });
      expect(approval.policy.reasons.map((r) => r.code)).toEqual([reason]);
    }
    // Nobody proven asked for the bare one: it names nobody.
    expect((await recorded(cases[0]?.body.action_id as string)).requested_by).toBe('unknown');
  });
});

describe('relayed decisions (the notifier for markdown folders)', () => {
  it('are accepted from a relay, for a person on that channel, and recorded as relayed', async () => {
    const pending = await pendingPayment();
    const relayed = await raw('approval.decide.notifier', {
      action_id: pending.action_id,
      approved: true,
      decided_by: 'frank',
      channel: 'folder',
    });
    expect(relayed.json).toMatchObject({ status: 'approved', decided_by: 'frank' });
    const history = (await call(h.nc, 'get', { action_id: pending.action_id })).history;
    expect(history.find((e) => e.event === 'voted')).toMatchObject({
      actor: 'frank',
      data: { relayed_by: 'notifier', channel: 'folder' },
    });
  });

  it('are refused for a person not on the channel, from a non-relay, and without a decider', async () => {
    const pending = await pendingPayment();
    const body = { action_id: pending.action_id, approved: true };
    const cases: [string, Record<string, unknown>, string][] = [
      ['approval.decide.notifier', { ...body, decided_by: 'alice', channel: 'folder' }, 'not_on_channel'],
      [
        'approval.decide.notifier',
        { ...body, decided_by: 'frank', channel: 'other-folder' },
        'not_on_channel',
      ],
      [
        'approval.decide.notifier',
        { ...body, decided_by: 'billing-job', channel: 'folder' },
        'unknown_identity',
      ],
      ['approval.decide.dave', { ...body, decided_by: 'frank', channel: 'folder' }, 'not_a_relay'],
      ['approval.decide.notifier', { ...body, decided_by: 'frank' }, 'actor_mismatch'],
    ];
    for (const [subject, payload, reason] of cases) {
      const answer = await raw(subject, payload);
      expect({ subject, payload, reasons: reasonsOf(answer.json) }).toEqual({
        subject,
        payload,
        reasons: [reason],
      });
    }
    const missing = await raw('approval.decide.notifier', { ...body, channel: 'folder' });
    expect(missing.code).toBe('invalid_request');
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).votes).toEqual([]);
  });
});
