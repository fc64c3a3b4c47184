import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CountersignError } from '@countersign/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildBytes,
  copyOfPolicies,
  loadEngine,
  policyDir,
  rolesDirectory,
  TEST_DIRECTORY,
} from '../test/support.js';
import { ENTRYPOINTS, readBundle } from './bundle.js';
import { type DecisionInput, PolicyEngine, SDK_BUILTINS } from './engine.js';
import { PolicyLoadError } from './errors.js';

const now = '2026-11-21T10:00:00.000Z';

function decisionInput(context: Record<string, unknown>, actionType = 'payment'): DecisionInput {
  return { action_id: 'p1', action_type: actionType, description: 'x', context, requested_by: 'dave', now };
}

async function refusal(promise: Promise<unknown>): Promise<PolicyLoadError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyLoadError);
  return err as PolicyLoadError;
}

function failure(fn: () => unknown): CountersignError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountersignError);
    return e as CountersignError;
  }
  throw new Error('expected the engine to fail closed');
}

// A valid decision as a Rego object literal, for policies that must pass result validation.
const GOOD =
  '{"outcome": "needs_approval", "reasons": [], "risk": "low", "required_approvals": 1, "approver_roles": [], "timeout_seconds": 60, "notify": []}';

function pendingPayment(engine: PolicyEngine, requested_by = 'billing-job') {
  return {
    action_id: 'p1',
    action_type: 'payment',
    description: 'x',
    context: { amount: 1500 },
    requested_by,
    run_id: null,
    status: 'pending' as const,
    created_at: now,
    expires_at: now,
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    policy: {
      ...engine.decide(decisionInput({ amount: 1500 })).result,
      revision: engine.revision,
      decision_id: 'd1',
    },
    votes: [],
    required_approvals: 1,
  };
}

const codes = (r: { reasons: { code: string }[] }) => r.reasons.map((x) => x.code);

describe('the shipped policy', () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    engine = await loadEngine(copyOfPolicies(), { directory: TEST_DIRECTORY });
  });

  it('exposes both entrypoints and decides the documented example', () => {
    expect(engine.entrypoints).toEqual([ENTRYPOINTS.authorize, ENTRYPOINTS.decision]);
    const { result, input_digest } = engine.decide(decisionInput({ amount: 1500 }));
    expect(result).toMatchObject({
      outcome: 'needs_approval',
      reasons: [expect.objectContaining({ code: 'amount_threshold' })],
      risk: 'high',
      approver_roles: ['finance'],
    });
    expect(input_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('digests the exact input: same input, same digest; any change, another', () => {
    const a = engine.decide(decisionInput({ amount: 1500 })).input_digest;
    expect(engine.decide(decisionInput({ amount: 1500 })).input_digest).toBe(a);
    expect(engine.decide(decisionInput({ amount: 1501 })).input_digest).not.toBe(a);
  });

  it('evaluates many inputs in a row without leaking state between them', () => {
    for (let i = 0; i < 2000; i++) {
      const amount = i % 2 === 0 ? 10 : 1500;
      const { result } = engine.decide(decisionInput({ amount, padding: 'p'.repeat(i) }));
      expect(result.outcome).toBe(amount === 10 ? 'auto_approve' : 'needs_approval');
    }
  });

  it("authorizes through the authorize entrypoint, by action, with the directory's roles", () => {
    const approval = pendingPayment(engine);
    expect(engine.directoryRevision).toBe(TEST_DIRECTORY.revision);
    expect(engine.authorize({ action: 'decide', approval, actor: 'frank' }).result).toEqual({
      allowed: true,
      reasons: [],
    });
    expect(codes(engine.authorize({ action: 'decide', approval, actor: 'billing-job' }).result)).toEqual([
      'missing_role',
      'self_approval',
    ]);
    expect(codes(engine.authorize({ action: 'cancel', approval, actor: 'dave' }).result)).toEqual([
      'not_allowed_to_cancel',
    ]);
    expect(engine.authorize({ action: 'cancel', approval, actor: 'carol' }).result.allowed).toBe(true);
    expect(engine.authorize({ action: 'report', approval, actor: 'billing-job' }).result.allowed).toBe(true);
    expect(codes(engine.authorize({ action: 'report', approval, actor: 'frank' }).result)).toEqual([
      'not_requester',
    ]);
    expect(codes(engine.authorize({ action: 'decide', approval, actor: 'mallory' }).result)).toEqual([
      'missing_role',
      'unknown_identity',
    ]);
  });

  it('reads bypass roles from the directory', () => {
    const input = { ...decisionInput({ amount: 1500 }), requested_by: 'carol' };
    expect(engine.decide(input).result.outcome).toBe('auto_approve');
    const demoted = engine.withDirectory(rolesDirectory({ ...TEST_DIRECTORY.roles, carol: [] }));
    expect(demoted.decide(input).result.outcome).toBe('needs_approval');
  });
});

describe('the directory', () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    engine = await loadEngine(copyOfPolicies(), { directory: rolesDirectory({ frank: ['finance'] }, 'r1') });
  });

  it('withDirectory serves new roles and leaves the engine it came from as it was', () => {
    const approval = pendingPayment(engine);
    const promoted = engine.withDirectory(rolesDirectory({ frank: ['finance'], bob: ['finance'] }, 'r2'));
    expect(promoted.directoryRevision).toBe('r2');
    expect(promoted.revision).toBe(engine.revision);
    expect(promoted.authorize({ action: 'decide', approval, actor: 'bob' }).result.allowed).toBe(true);
    expect(codes(engine.authorize({ action: 'decide', approval, actor: 'bob' }).result)).toEqual([
      'missing_role',
      'unknown_identity',
    ]);
    const demoted = promoted.withDirectory(rolesDirectory({ frank: [] }, 'r3'));
    expect(codes(demoted.authorize({ action: 'decide', approval, actor: 'frank' }).result)).toEqual([
      'missing_role',
    ]);
  });

  it('a policy loaded without a directory knows nobody (fails closed)', async () => {
    const bare = await loadEngine(copyOfPolicies());
    expect(bare.directoryRevision).toBe('none');
    const approval = pendingPayment(bare);
    for (const actor of ['frank', 'billing-job', 'bob']) {
      for (const action of ['decide', 'cancel', 'report'] as const) {
        const r = bare.authorize({ action, approval, actor }).result;
        expect(r.allowed).toBe(false);
        expect(codes(r)).toContain('unknown_identity');
      }
    }
    const input = { ...decisionInput({ amount: 1500 }), requested_by: 'carol' };
    expect(bare.decide(input).result.outcome).toBe('needs_approval');
  });

  it('the golden directory is used for the golden cases only, never to serve', () => {
    const approval = pendingPayment(engine);
    const r = engine.authorize({ action: 'decide', approval, actor: 'golden-approver' }).result;
    expect(codes(r)).toContain('unknown_identity');
  });
});

describe('loading refuses', () => {
  it('a bundle that lacks an entrypoint', async () => {
    const bytes = await buildBytes(copyOfPolicies(), [ENTRYPOINTS.decision]);
    const err = await refusal(PolicyEngine.load(readBundle(bytes)));
    expect(err.kind).toBe('missing_entrypoint');
    expect(err.message).toContain(ENTRYPOINTS.authorize);
  });

  it('a module that needs a builtin the SDK lacks (time.now_ns)', async () => {
    const dir = policyDir({
      'countersign/decision.rego': 'package countersign.decision\n\nresult := {"now": time.now_ns()}\n',
      'countersign/authorize.rego':
        'package countersign.authorize\n\nresult := {"allowed": false, "reasons": []}\n',
    });
    const err = await refusal(loadEngine(dir, { goldenCases: [] }));
    expect(err.kind).toBe('unsupported_builtin');
    expect(err.message).toContain('time.now_ns');
  });

  it('broken WASM bytes', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const broken = { ...bundle, wasm: bundle.wasm.slice(0, 1000) };
    const err = await refusal(PolicyEngine.load(broken));
    expect(err.kind).toBe('invalid_wasm');
  });

  it('a bundle whose data is missing (every golden case would be undefined)', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const err = await refusal(PolicyEngine.load({ ...bundle, data: {} }));
    expect(err.kind).toBe('golden_case_failed');
    expect(err.message).toMatch(/undefined/);
  });

  it('a policy that fails open (auto-approves a huge payment)', async () => {
    const dir = copyOfPolicies();
    const bundle = readBundle(await buildBytes(dir));
    const data = bundle.data as { countersign: { thresholds: Record<string, number> } };
    data.countersign.thresholds.payment_amount = Number.MAX_SAFE_INTEGER;
    data.countersign.thresholds.max_amount = Number.MAX_SAFE_INTEGER;
    const err = await refusal(PolicyEngine.load(bundle));
    expect(err.kind).toBe('golden_case_failed');
    expect(err.message).toContain('payment of 1,000,000,000');
  });

  it('loads, with a warning, a bundle that carries no golden cases, none for one entrypoint, or no refused cancel', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const none = await PolicyEngine.load({ ...bundle, goldenCases: undefined });
    expect(none.warnings).toEqual([expect.stringContaining('data.countersign.golden_cases')]);
    const decideOnly = (bundle.goldenCases ?? []).filter((c) => 'decide' in c);
    const half = await PolicyEngine.load({ ...bundle, goldenCases: decideOnly });
    expect(half.warnings).toEqual([
      expect.stringContaining('authorize entrypoint to refuse decide, resume, cancel, report'),
    ]);
    const noRefusedCancel = (bundle.goldenCases ?? []).filter(
      (c) => !('authorize' in c && c.authorize.action === 'cancel' && !c.expect.allowed),
    );
    const open = await PolicyEngine.load({ ...bundle, goldenCases: noRefusedCancel });
    expect(open.warnings).toEqual([expect.stringMatching(/to refuse cancel:/)]);
    // The warning stays with the policy when the directory changes.
    expect(open.withDirectory(rolesDirectory({})).warnings).toEqual(open.warnings);
    // A complete set of cases gives no warning.
    expect((await PolicyEngine.load(bundle)).warnings).toEqual([]);
  });

  it('refuses a bundle that fails one of its own cases, even when its cases are incomplete', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const data = bundle.data as { countersign: { thresholds: Record<string, number> } };
    data.countersign.thresholds.payment_amount = Number.MAX_SAFE_INTEGER;
    data.countersign.thresholds.max_amount = Number.MAX_SAFE_INTEGER;
    const decideOnly = (bundle.goldenCases ?? []).filter((c) => 'decide' in c);
    const err = await refusal(PolicyEngine.load({ ...bundle, goldenCases: decideOnly }));
    expect(err.kind).toBe('golden_case_failed');
  });

  it.each([
    ['directory', { directory: { mallory: ['finance'] } }],
    ['countersign.directory', { countersign: { directory: { mallory: ['finance'] } } }],
  ])("a bundle whose data carries %s (roles are the directory file's)", async (field, extra) => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const data = {
      ...bundle.data,
      ...extra,
      countersign: {
        ...(bundle.data.countersign as object),
        ...(extra as { countersign?: object }).countersign,
      },
    };
    const err = await refusal(PolicyEngine.load({ ...bundle, data }));
    expect(err.kind).toBe('invalid_bundle');
    expect(err.field).toBe(field);
    expect(err.message).toContain('DIRECTORY_FILE');
  });

  it('a golden directory that is not identity -> roles', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    const countersign = { ...(bundle.data.countersign as object), golden_directory: { frank: 'finance' } };
    const err = await refusal(PolicyEngine.load({ ...bundle, data: { ...bundle.data, countersign } }));
    expect(err.kind).toBe('invalid_golden_cases');
    expect(err.field).toBe('golden_directory.frank');
  });

  it('a policy whose answers ignore the golden directory (roles not read from data.directory)', async () => {
    const dir = copyOfPolicies();
    const lib = join(dir, 'countersign/lib.rego');
    writeFileSync(lib, readFileSync(lib, 'utf8').replace('directory := data.directory', 'directory := {}'));
    const err = await refusal(loadEngine(dir));
    expect(err.kind).toBe('golden_case_failed');
    expect(err.message).toContain('unknown_identity');
  });

  it("another policy's own golden cases, when its answers differ from them", async () => {
    // A policy unlike the shipped one, with its own cases in countersign/golden.json.
    const authorize =
      'package countersign.authorize\n\nresult := {"allowed": false, "reasons": [{"code": "closed", "message": "x"}]}\n';
    const golden = (expected: string) =>
      JSON.stringify({
        golden_cases: [
          { name: 'everything needs a human', decide: { action_type: 'x' }, expect: { outcome: expected } },
          ...['decide', 'resume', 'cancel', 'report'].map((action) => ({
            name: `nobody may ${action}`,
            authorize: { action, actor: 'a' },
            expect: { allowed: false },
          })),
        ],
      });
    const files = (expected: string) => ({
      'countersign/decision.rego': `package countersign.decision\n\nresult := ${GOOD}\n`,
      'countersign/authorize.rego': authorize,
      'countersign/golden.json': golden(expected),
    });
    const engine = await loadEngine(policyDir(files('needs_approval')));
    expect(engine.decide(decisionInput({})).result.outcome).toBe('needs_approval');
    const err = await refusal(loadEngine(policyDir(files('auto_approve'))));
    expect(err.kind).toBe('golden_case_failed');
    expect(err.message).toContain(
      '"everything needs a human" failed: outcome needs_approval (expected auto_approve)',
    );
  });

  it('accepts the same bundle after an ordinary threshold change', async () => {
    const bundle = readBundle(await buildBytes(copyOfPolicies()));
    (
      bundle.data as { countersign: { thresholds: Record<string, number> } }
    ).countersign.thresholds.payment_amount = 2000;
    const engine = await PolicyEngine.load(bundle);
    expect(engine.decide(decisionInput({ amount: 1500 })).result.outcome).toBe('auto_approve');
  });
});

describe('evaluation fails closed', () => {
  let engine: PolicyEngine;
  beforeAll(async () => {
    // Golden cases off: this policy is deliberately broken in ways only evaluation shows.
    const dir = policyDir({
      'countersign/decision.rego': [
        'package countersign.decision',
        '',
        `result := ${GOOD} if input.context.mode == "ok"`,
        '',
        'result := {"outcome": "approve_everything"} if input.context.mode == "malformed"',
        '',
        'result := 1 if input.context.mode == "conflict"',
        '',
        'result := 2 if input.context.mode == "conflict"',
        '',
      ].join('\n'),
      'countersign/authorize.rego': [
        'package countersign.authorize',
        '',
        'result := {"allowed": true} if input.actor == "malformed"',
        '',
      ].join('\n'),
    });
    engine = await loadEngine(dir, { goldenCases: [] });
  });

  it('answers a valid result', () => {
    expect(engine.decide(decisionInput({ mode: 'ok' })).result.outcome).toBe('needs_approval');
  });

  it('turns an undefined result into an internal error', () => {
    const err = failure(() => engine.decide(decisionInput({ mode: 'nothing matches' })));
    expect(err.code).toBe('internal');
    expect(err.message).toMatch(/failed closed: the policy result is undefined/);
  });

  it('turns an error inside the module into an internal error', () => {
    const err = failure(() => engine.decide(decisionInput({ mode: 'conflict' })));
    expect(err.code).toBe('internal');
    expect(err.message).toMatch(/failed closed: evaluation error/);
  });

  it('refuses a result that does not match the contract', () => {
    const err = failure(() => engine.decide(decisionInput({ mode: 'malformed' })));
    expect(err.code).toBe('internal');
    expect(err.message).toMatch(/does not match the contract \(outcome, reasons/);
    const auth = failure(() =>
      engine.authorize({ action: 'decide', approval: {} as never, actor: 'malformed' }),
    );
    expect(auth.message).toMatch(/authorize\/result failed closed: .*\(reasons\)/);
  });

  it('keeps working after a failed evaluation', () => {
    failure(() => engine.decide(decisionInput({ mode: 'conflict' })));
    expect(engine.decide(decisionInput({ mode: 'ok' })).result.outcome).toBe('needs_approval');
  });
});

describe('SDK_BUILTINS', () => {
  it('is exactly what the installed @open-policy-agent/opa-wasm implements', () => {
    // Read from the SDK's own (unexported) builtins module, so an SDK upgrade that adds or
    // drops one fails here instead of at evaluation time.
    const require = createRequire(import.meta.url);
    const sdkMain = require.resolve('@open-policy-agent/opa-wasm');
    const builtins = require(join(dirname(sdkMain), 'builtins/index.js')) as Record<string, unknown>;
    expect([...SDK_BUILTINS].sort()).toEqual(Object.keys(builtins).sort());
  });
});
