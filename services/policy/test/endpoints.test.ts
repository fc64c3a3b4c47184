/**
 * The policy service as a real process on a real nats-server: every rule of the default policy
 * (docs: policy.md) through `policy.evaluate`, `policy.authorize`, `policy.info`, and the error
 * replies, exactly as other services and the NATS CLI see them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { callEndpoint } from '@countersign/client';
import {
  type Approval,
  type ApprovalRequestInput,
  AuthorizeAction,
  CountersignError,
  ErrorBody,
  Headers,
  MAX_PAYLOAD_BYTES,
  type PolicyDecision,
} from '@countersign/contracts';
import { tool } from '@countersign/devinfra';
import { type ServiceProcess, spawnService, useTestNats, waitUntil } from '@countersign/test-fixtures';
import { type NatsConnection, RequestError } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateRequest, pendingApproval } from './support.js';

const execFileAsync = promisify(execFile);

// Top level, not in beforeAll: the fixtures register their own afterAll cleanup, which vitest
// only honours while the file is being collected.
const nats = await useTestNats();
const { url } = nats;
const service: ServiceProcess = await spawnService('policy', { env: { NATS_URL: url } });
const nc: NatsConnection = await nats.connect();
/** The NATS CLI's flags to log in as ops (none on a server without authentication). */
const opsLogin = () => {
  const ops = nats.login('ops');
  return ops ? ['--user', ops.user, '--password', ops.password] : [];
};
afterAll(async () => {
  await nc.drain();
});

const evaluate = (overrides: Partial<ApprovalRequestInput>) =>
  callEndpoint(nc, 'evaluate', evaluateRequest(overrides));
const codes = (d: { reasons: { code: string }[] }) => d.reasons.map((r) => r.code);

async function rejection(promise: Promise<unknown>): Promise<CountersignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersignError);
  return err as CountersignError;
}

describe('policy.evaluate: money movements', () => {
  it('answers the documented example with the revision and a fresh decision_id', async () => {
    const a = await evaluate({ context: { amount: 1500 } });
    expect(a).toMatchObject({
      outcome: 'needs_approval',
      reasons: [{ code: 'amount_threshold', message: expect.stringContaining('1500') }],
      risk: 'high',
      required_approvals: 1,
      approver_roles: ['finance'],
      timeout_seconds: 7200,
      notify: ['finance'],
      revision: expect.stringMatching(/^sha256:[0-9a-f]{16}$/),
    });
    const b = await evaluate({ context: { amount: 1500 } });
    expect(b.decision_id).not.toBe(a.decision_id);
    expect(b.revision).toBe(a.revision);
  });

  it.each([
    [0, 'auto_approve', ['no_rule_matched'], 1, 'low'],
    [101, 'auto_approve', ['no_rule_matched'], 1, 'medium'],
    [499, 'auto_approve', ['no_rule_matched'], 1, 'medium'],
    [500, 'needs_approval', ['amount_threshold'], 1, 'medium'],
    [1001, 'needs_approval', ['amount_threshold'], 1, 'high'],
    [9999, 'needs_approval', ['amount_threshold'], 1, 'high'],
    [10000, 'needs_approval', ['amount_threshold', 'high_value'], 2, 'high'],
    [1000000, 'needs_approval', ['amount_threshold', 'high_value'], 2, 'high'],
    [1000001, 'deny', ['amount_limit_exceeded', 'amount_threshold', 'high_value'], 2, 'critical'],
  ] as const)(
    'payment of %d: %s %j, %d approval(s), risk %s',
    async (amount, outcome, reasons, approvals, risk) => {
      const d = await evaluate({ context: { amount } });
      expect(d.outcome).toBe(outcome);
      expect(codes(d)).toEqual(reasons);
      expect(d.required_approvals).toBe(approvals);
      expect(d.risk).toBe(risk);
    },
  );

  it.each(['transfer', 'withdrawal', 'refund', 'create_billing', 'PAYMENT'])(
    '%s is a money movement',
    async (action_type) => {
      const d = await evaluate({ action_type, context: { amount: 500 } });
      expect(d.outcome).toBe('needs_approval');
      expect(codes(d)).toEqual(['amount_threshold']);
      expect(d.approver_roles).toEqual(['finance']);
    },
  );

  // Fail closed: a money action the thresholds cannot judge asks finance, never auto-approves.
  it.each(['payment', 'transfer', 'refund'])(
    '%s without an amount needs finance (missing_amount)',
    async (action_type) => {
      const d = await evaluate({ action_type, context: { resource: 'invoice-42' } });
      expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'high', approver_roles: ['finance'] });
      expect(codes(d)).toEqual(['missing_amount']);
      expect((await evaluate({ action_type })).outcome).toBe('needs_approval');
    },
  );

  it('a currency the policy does not know needs finance (unknown_currency); none means EUR', async () => {
    const d = await evaluate({ context: { amount: 10, currency: 'JPY' } });
    expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'high', approver_roles: ['finance'] });
    expect(codes(d)).toEqual(['unknown_currency']);
    for (const currency of ['EUR', ' usd ', 'gbp']) {
      expect((await evaluate({ context: { amount: 10, currency } })).outcome).toBe('auto_approve');
    }
    expect((await evaluate({ context: { amount: 10 } })).outcome).toBe('auto_approve');
  });

  it('ignores amounts on actions that do not move money (risk still counts them)', async () => {
    const d = await evaluate({ action_type: 'send_email', context: { amount: 5000 } });
    expect(d.outcome).toBe('auto_approve');
    expect(codes(d)).toEqual(['no_rule_matched']);
    expect(d.risk).toBe('high');
  });
});

describe('policy.evaluate: environment, bulk, delete, sensitive actions', () => {
  it.each(['production', 'PRODUCTION', 'Production', ' production ', 'prod', 'PROD', 'prd', 'live'])(
    'environment %j needs ops approval',
    async (environment) => {
      const d = await evaluate({ action_type: 'deploy', context: { environment } });
      expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'high', approver_roles: ['ops'] });
      expect(codes(d)).toEqual(['production_environment']);
      expect(d.timeout_seconds).toBe(3600);
    },
  );

  it('staging is not production', async () => {
    const d = await evaluate({ action_type: 'deploy', context: { environment: 'staging' } });
    expect(d.outcome).toBe('auto_approve');
  });

  it.each(['production-eu', 'stagin', ''])(
    'an unknown environment %j counts as production',
    async (environment) => {
      const d = await evaluate({ action_type: 'deploy', context: { environment } });
      expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'high', approver_roles: ['ops'] });
      expect(codes(d)).toEqual(['unknown_environment']);
    },
  );

  it.each([
    [{ bulk: true }, 'needs_approval'],
    [{ bulk: false }, 'auto_approve'],
    [{ item_count: 99 }, 'auto_approve'],
    [{ item_count: 100 }, 'needs_approval'],
  ])('bulk context %j: %s', async (context, outcome) => {
    const d = await evaluate({ action_type: 'send_newsletter', context });
    expect(d.outcome).toBe(outcome);
    if (outcome === 'needs_approval') {
      expect(codes(d)).toEqual(['bulk_operation']);
      expect(d).toMatchObject({ risk: 'medium', approver_roles: ['ops'] });
    }
  });

  it.each(['delete_user', 'DELETE_USER', 'bulk_Delete_files', 'softdelete'])(
    'action type %j is a delete',
    async (action_type) => {
      const d = await evaluate({ action_type });
      expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'high', approver_roles: ['ops'] });
      expect(codes(d)).toEqual(['delete_operation']);
      expect(d.timeout_seconds).toBe(1800);
    },
  );

  it('a delete in production is critical and needs two approvals', async () => {
    const d = await evaluate({ action_type: 'delete_database', context: { environment: 'production' } });
    expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'critical', required_approvals: 2 });
    expect(codes(d)).toEqual(['delete_operation', 'production_environment']);
  });

  it.each(['api_key_create', 'user_permission_change', 'database_modification', 'code_execution'])(
    '%s is a sensitive action for security',
    async (action_type) => {
      const d = await evaluate({ action_type });
      expect(d).toMatchObject({ outcome: 'needs_approval', risk: 'medium', approver_roles: ['security'] });
      expect(codes(d)).toEqual(['sensitive_action']);
      expect(d.timeout_seconds).toBe(action_type === 'code_execution' ? 1800 : 3600);
    },
  );

  it('uses the request timeout when given', async () => {
    const d = await evaluate({ action_type: 'code_execution', timeout_seconds: 90 });
    expect(d.timeout_seconds).toBe(90);
  });
});

describe('policy.evaluate: task_pause and bypass', () => {
  it('task_pause needs its owner, no approver role', async () => {
    const d = await evaluate({ action_type: 'task_pause', requested_by: 'agent-7' });
    expect(d).toMatchObject({ outcome: 'needs_approval', approver_roles: [] });
    expect(codes(d)).toEqual(['paused_task']);
  });

  it('carol (admin) bypasses an approval, but not a task_pause and never a deny', async () => {
    const bypassed = await evaluate({ requested_by: 'carol', context: { amount: 1500 } });
    expect(bypassed.outcome).toBe('auto_approve');
    expect(codes(bypassed)).toEqual(['amount_threshold', 'bypass_role']);
    expect(bypassed.notify).toContain('security');

    const pause = await evaluate({ requested_by: 'carol', action_type: 'task_pause' });
    expect(pause.outcome).toBe('needs_approval');
    expect(codes(pause)).toEqual(['paused_task']);

    const denied = await evaluate({ requested_by: 'carol', context: { amount: 2_000_000 } });
    expect(denied.outcome).toBe('deny');
    expect(codes(denied)).not.toContain('bypass_role');
  });

  it('bob (ops, no bypass role) still needs approval', async () => {
    const d = await evaluate({ requested_by: 'bob', context: { amount: 1500 } });
    expect(d.outcome).toBe('needs_approval');
  });
});

describe('policy.authorize', () => {
  let decision: PolicyDecision;
  let pauseDecision: PolicyDecision;
  beforeAll(async () => {
    decision = await evaluate({ requested_by: 'billing-job', context: { amount: 1500 } });
    pauseDecision = await evaluate({ requested_by: 'agent-7', action_type: 'task_pause' });
  });

  // Identities and roles are the test directory's (packages/test-fixtures/directory.yaml):
  // frank and alice hold finance, bob and grace ops, carol admin; dave and eve no role;
  // billing-job and agent-7 are requesting systems; mallory is nobody.
  const approval = (overrides: Partial<Approval> = {}) => pendingApproval(decision, overrides);
  const paused = () =>
    approval({ action_type: 'task_pause', context: {}, requested_by: 'agent-7', policy: pauseDecision });
  const authorize = (action: AuthorizeAction, a: Approval, actor: string) =>
    callEndpoint(nc, 'authorize', { action, approval: a, actor });

  it('answers the verdict with the bundle and directory revisions it used', async () => {
    const r = await authorize('decide', approval(), 'frank');
    const info = await callEndpoint(nc, 'policyInfo', {});
    expect(r).toEqual({
      allowed: true,
      reasons: [],
      revision: decision.revision,
      directory_revision: info.directory_revision,
    });
    expect(info.directory_revision).toMatch(/^[0-9a-f]{12}$/);
    expect((await authorize('decide', approval(), 'alice')).allowed).toBe(true);
  });

  it('lets only an operator decide an approval that names no approver roles (no_approver_roles)', async () => {
    const open = approval({ policy: { ...decision, approver_roles: [] } });
    for (const actor of ['frank', 'bob', 'dave']) {
      const r = await authorize('decide', open, actor);
      expect(r.allowed).toBe(false);
      expect(codes(r)).toEqual(['no_approver_roles']);
    }
    expect((await authorize('decide', open, 'carol')).allowed).toBe(true);
  });

  it('refuses an identity the directory does not know, for every action', async () => {
    for (const action of AuthorizeAction.options) {
      const r = await authorize(action, approval({ requested_by: 'mallory' }), 'mallory');
      expect(r.allowed).toBe(false);
      expect(codes(r)).toContain('unknown_identity');
    }
  });

  it('canonicalises the actor before looking it up (a variant of frank is frank)', async () => {
    // Case, surrounding space and NFKC forms (fullwidth letters) are one identity...
    for (const variant of [' FRANK ', 'Frank', '\uff46\uff52\uff41\uff4e\uff4b']) {
      expect((await authorize('decide', approval(), variant)).allowed, variant).toBe(true);
    }
    // ...so a variant of the requester is still the requester.
    const own = await authorize('decide', approval({ requested_by: 'frank' }), 'FRANK ');
    expect(codes(own)).toEqual(['self_approval']);
    // Invisible and direction-changing characters are refused before the policy sees them.
    for (const hidden of ['fr\u200bank', '\u202efrank', 'frank\u2066']) {
      const err = await rejection(authorize('decide', approval(), hidden));
      expect(err.code).toBe('invalid_request');
      expect(err.details?.fields).toEqual([expect.objectContaining({ path: 'actor' })]);
    }
  });

  it('decide: refuses self-approval, even for someone holding the role', async () => {
    const r = await authorize('decide', approval({ requested_by: 'frank' }), 'frank');
    expect(r.allowed).toBe(false);
    expect(codes(r)).toEqual(['self_approval']);
  });

  it('decide: refuses a decider without the role (roles come from the directory only)', async () => {
    const r = await authorize('decide', approval(), 'bob');
    expect(r).toMatchObject({ allowed: false, reasons: [{ code: 'missing_role' }] });
    expect(codes(await authorize('decide', approval(), 'carol'))).toEqual(['missing_role']);
  });

  it('decide: refuses a second vote by the same decider', async () => {
    const voted = approval({
      votes: [{ voter: 'frank', approved: true, reason: null, at: new Date().toISOString() }],
    });
    expect(codes(await authorize('decide', voted, 'frank'))).toEqual(['already_voted']);
    expect((await authorize('decide', voted, 'alice')).allowed).toBe(true);
  });

  it('decide: a paused task is not decided, even by its owner', async () => {
    expect(codes(await authorize('decide', paused(), 'agent-7'))).toEqual(['use_resume']);
    expect(codes(await authorize('decide', paused(), 'bob'))).toEqual(['use_resume']);
  });

  it("resume: only the task's owner, its authenticated requester, resumes it", async () => {
    expect((await authorize('resume', paused(), 'agent-7')).allowed).toBe(true);
    // The old body-supplied owner is not believed.
    const claimed = approval({ ...paused(), context: { owner: 'bob' } });
    for (const actor of ['bob', 'carol', 'agent-3']) {
      expect(codes(await authorize('resume', claimed, actor))).toEqual(['not_owner']);
    }
    expect(codes(await authorize('resume', approval(), 'billing-job'))).toEqual(['not_paused_task']);
  });

  it('cancel: the requester, an eligible approver or an operator; nobody else', async () => {
    for (const actor of ['billing-job', 'frank', 'alice', 'carol']) {
      expect((await authorize('cancel', approval(), actor)).allowed).toBe(true);
    }
    // bob and grace approve deploys (ops): that is no licence to cancel a payment.
    for (const actor of ['dave', 'eve', 'bob', 'grace', 'erin', 'payment-job']) {
      expect(codes(await authorize('cancel', approval(), actor))).toEqual(['not_allowed_to_cancel']);
    }
    // A pause asks for no role: only its owner or an operator cancels it.
    expect((await authorize('cancel', paused(), 'agent-7')).allowed).toBe(true);
    expect((await authorize('cancel', paused(), 'carol')).allowed).toBe(true);
    expect(codes(await authorize('cancel', paused(), 'frank'))).toEqual(['not_allowed_to_cancel']);
  });

  it('report: only the requester principal reports the execution', async () => {
    expect((await authorize('report', approval(), 'billing-job')).allowed).toBe(true);
    for (const actor of ['frank', 'bob', 'carol', 'payment-job']) {
      expect(codes(await authorize('report', approval(), actor))).toEqual(['not_requester']);
    }
  });

  it('refuses an action outside the contract before the policy sees it', async () => {
    const err = await rejection(
      callEndpoint(nc, 'authorize', { action: 'approve', approval: approval(), actor: 'frank' } as never),
    );
    expect(err.code).toBe('invalid_request');
    expect(err.details?.fields).toEqual([expect.objectContaining({ path: 'action' })]);
  });
});

describe('errors', () => {
  async function rawRequest(subject: string, body: string | Uint8Array) {
    const reply = await nc.request(subject, body, { timeout: 5000 });
    return {
      code: reply.headers?.get(Headers.serviceErrorCode),
      body: ErrorBody.parse(JSON.parse(new TextDecoder().decode(reply.data))),
    };
  }

  it('answers malformed JSON with invalid_request (400)', async () => {
    const { code, body } = await rawRequest('policy.evaluate', '{"action_id": "p1", ');
    expect(code).toBe('400');
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(/not valid JSON/);
  });

  it('names every wrongly typed field in details.fields', async () => {
    const err = await rejection(
      callEndpoint(nc, 'evaluate', {
        ...evaluateRequest(),
        action_type: 42,
        context: { amount: '1500', bulk: 'yes' },
      } as never),
    );
    expect(err.code).toBe('invalid_request');
    const paths = ((err.details?.fields ?? []) as { path: string }[]).map((f) => f.path).sort();
    expect(paths).toEqual(['action_type', 'context.amount', 'context.bulk']);
  });

  it('refuses an unknown top-level field (roles stated in a request are never trusted)', async () => {
    const err = await rejection(
      callEndpoint(nc, 'evaluate', { ...evaluateRequest(), roles: ['admin'] } as never),
    );
    expect(err.code).toBe('invalid_request');
    expect(err.details?.fields).toEqual([expect.objectContaining({ path: 'roles' })]);
  });

  it('refuses a payload over 64 KiB with payload_too_large (413)', async () => {
    const big = JSON.stringify({ ...evaluateRequest(), context: { blob: 'x'.repeat(MAX_PAYLOAD_BYTES) } });
    const { code, body } = await rawRequest('policy.evaluate', big);
    expect(code).toBe('413');
    expect(body.error.code).toBe('payload_too_large');
  });

  it('has no responder for a subject it does not serve', async () => {
    const err = await nc.request('policy.nonexistent', '{}', { timeout: 2000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).isNoResponders()).toBe(true);
  });
});

describe('policy.info and the decision log', () => {
  it('reports the revisions that decisions carry, both entrypoints and the source', async () => {
    const info = await callEndpoint(nc, 'policyInfo', {});
    const decision = await evaluate({ context: { amount: 1500 } });
    expect(info).toMatchObject({
      revision: decision.revision,
      directory_revision: decision.directory_revision,
      entrypoints: ['countersign/authorize/result', 'countersign/decision/result'],
      source: expect.stringMatching(/^directory .*policies$/),
    });
    expect(Date.parse(info.loaded_at)).not.toBeNaN();
  });

  it('logs every decision as one structured line', async () => {
    const decision = await evaluate({ action_id: 'logged-1', context: { amount: 1500 } });
    const line = await waitUntil(() =>
      service
        .logs()
        .map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {}))
        .find((l) => l.decision_id === decision.decision_id),
    );
    expect(line).toMatchObject({
      msg: 'policy decision',
      action_id: 'logged-1',
      revision: decision.revision,
      directory_revision: decision.directory_revision,
      input_digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      outcome: 'needs_approval',
      reasons: ['amount_threshold'],
      risk: 'high',
      duration_ms: expect.any(Number),
    });
  });
});

describe('the NATS CLI', () => {
  const nats = (...args: string[]) =>
    execFileAsync(tool('nats'), ['--server', url, ...opsLogin(), ...args], { timeout: 10_000 });

  it('answers the issue example: nats req policy.evaluate', async () => {
    const body =
      '{"action_id":"p1","action_type":"payment","description":"x","requested_by":"dave","context":{"amount":1500}}';
    const { stdout } = await nats('req', 'policy.evaluate', body);
    const decision = JSON.parse(
      stdout
        .trim()
        .split('\n')
        .find((l) => l.startsWith('{')) ?? '',
    ) as PolicyDecision;
    expect(decision.outcome).toBe('needs_approval');
    expect(codes(decision)).toEqual(['amount_threshold']);
    expect(decision.risk).toBe('high');
    expect(decision.approver_roles).toEqual(['finance']);
    expect(decision.revision).toMatch(/^sha256:/);
  });

  it('lists the policy service with nats micro ls', async () => {
    const { stdout } = await nats('micro', 'ls', '--json');
    const services = JSON.parse(stdout) as { name: string }[];
    expect(services.map((s) => s.name)).toContain('policy');
  });
});

describe('shutdown', () => {
  it('on SIGTERM stops serving, drains and exits 143', async () => {
    const proc = service.process();
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(143);
    expect(service.logs().some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    const err = await nc.request('policy.info', '{}', { timeout: 2000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as RequestError).isNoResponders()).toBe(true);
  });
});
