import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_DIR } from './config.js';
import { PolicyLoadError } from './errors.js';
import {
  type GoldenTarget,
  goldenCoverageGap,
  parseGoldenCases,
  readGoldenCases,
  readGoldenDirectory,
  runGoldenCase,
} from './golden.js';

function refusal(fn: () => unknown): PolicyLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyLoadError);
    return e as PolicyLoadError;
  }
  throw new Error('expected the golden cases to be refused');
}

const decideCase = { name: 'd', decide: { action_type: 'payment' }, expect: { outcome: 'deny' } };
const authorizeCase = {
  name: 'a',
  authorize: { action: 'decide', actor: 'x', approver_roles: [] },
  expect: { allowed: false },
};
/** A refusing case for each authorize action: the least a bundle must carry. */
const refusals = ['decide', 'resume', 'cancel', 'report', 'extend'].map((action) => ({
  name: action,
  authorize: { action, actor: 'x' },
  expect: { allowed: false },
}));

/** Answers fixed results and records what it was asked. */
function target(outcome: 'auto_approve' | 'needs_approval' | 'deny', allowed: boolean, codes: string[] = []) {
  const asked: unknown[] = [];
  const reasons = codes.map((code) => ({ code, message: code }));
  const t: GoldenTarget = {
    decide(input) {
      asked.push(input);
      const result = {
        outcome,
        reasons,
        risk: 'low' as const,
        required_approvals: 1,
        approver_roles: [],
        timeout_seconds: 60,
        notify: [],
      };
      return { result };
    },
    authorize(input) {
      asked.push(input);
      return { result: { allowed, reasons } };
    },
  };
  return { t, asked };
}

describe('the shipped golden cases', () => {
  it('are valid, ask both entrypoints, refuse every action, and carry their own directory', () => {
    const file = JSON.parse(readFileSync(join(DEFAULT_POLICY_DIR, 'countersign/golden.json'), 'utf8'));
    const cases = readGoldenCases({ countersign: file });
    expect(cases?.length).toBeGreaterThanOrEqual(2);
    expect(goldenCoverageGap(cases)).toBeUndefined();
    const directory = readGoldenDirectory({ countersign: file });
    expect(Object.keys(directory.roles).length).toBeGreaterThan(0);
    // Every identity a case expects to be allowed is in it: the cases prove roles are read.
    for (const c of cases ?? []) {
      if ('authorize' in c && c.expect.allowed) expect(directory.roles).toHaveProperty([c.authorize.actor]);
    }
  });
});

describe('parseGoldenCases refuses, naming the field', () => {
  it.each([
    [{}, 'golden_cases', 'must be an array'],
    [[{ name: 'x' }], 'golden_cases.0', 'must be an object with either "decide" or "authorize"'],
    [[decideCase, 'text'], 'golden_cases.1', 'must be an object with either "decide" or "authorize"'],
    [
      [{ ...decideCase, expect: { outcome: 'maybe' } }],
      'golden_cases.0.expect.outcome',
      'must be one of auto_approve, needs_approval, deny, or a list of them',
    ],
    [[{ ...decideCase, expect: {} }], 'golden_cases.0.expect', 'expects nothing'],
    [[{ ...decideCase, decide: { action_type: 'x', amount: 1 } }], 'golden_cases.0.decide', ''],
    [[{ ...authorizeCase, expect: { allowed: 'no' } }], 'golden_cases.0.expect.allowed', ''],
    [[{ ...authorizeCase, authorize: { actor: 'x' } }], 'golden_cases.0.authorize.action', ''],
    [
      [{ ...authorizeCase, authorize: { action: 'approve', actor: 'x' } }],
      'golden_cases.0.authorize.action',
      '',
    ],
    [[{ ...authorizeCase, authorize: { action: 'decide' } }], 'golden_cases.0.authorize.actor', ''],
    [
      [{ ...authorizeCase, authorize: { action: 'decide', actor: 'x', decider: 'x' } }],
      'golden_cases.0.authorize',
      '',
    ],
  ])('%j', (value, field, message) => {
    const err = refusal(() => parseGoldenCases(value));
    expect(err.kind).toBe('invalid_golden_cases');
    expect(err.field).toBe(field);
    expect(err.message).toContain(`golden case ${field}: ${message}`);
  });

  it('reads nothing when the data has no golden cases, and validates them when it has', () => {
    expect(readGoldenCases({})).toBeUndefined();
    expect(readGoldenCases({ countersign: { thresholds: {} } })).toBeUndefined();
    expect(readGoldenCases({ countersign: { golden_cases: [decideCase] } })).toEqual([decideCase]);
    expect(refusal(() => readGoldenCases({ countersign: { golden_cases: 'x' } })).kind).toBe(
      'invalid_golden_cases',
    );
  });
});

describe('readGoldenDirectory', () => {
  it('reads identity -> roles, nobody when absent, and refuses anything else naming the field', () => {
    expect(readGoldenDirectory({})).toEqual({ revision: 'golden_directory', roles: {} });
    expect(readGoldenDirectory({ countersign: { golden_directory: { a: ['ops'], b: [] } } }).roles).toEqual({
      a: ['ops'],
      b: [],
    });
    for (const [value, field] of [
      [['a'], 'golden_directory'],
      [{ a: 'ops' }, 'golden_directory.a'],
      [{ a: [''] }, 'golden_directory.a.0'],
    ] as const) {
      const err = refusal(() => readGoldenDirectory({ countersign: { golden_directory: value } }));
      expect(err.kind).toBe('invalid_golden_cases');
      expect(err.field).toBe(field);
    }
  });
});

describe('goldenCoverageGap', () => {
  it('wants a case for each entrypoint and a refusal for every authorize action', () => {
    const [d, a] = parseGoldenCases([decideCase, authorizeCase]);
    const refused = parseGoldenCases(refusals);
    expect(goldenCoverageGap(undefined)).toMatch(/carries no golden cases/);
    expect(goldenCoverageGap([])).toMatch(/carries no golden cases/);
    expect(goldenCoverageGap([d!])).toMatch(/to refuse decide, resume, cancel, report, extend/);
    expect(goldenCoverageGap([a!])).toMatch(/decision entrypoint/);
    expect(goldenCoverageGap([d!, a!])).toMatch(/to refuse resume, cancel, report, extend$/);
    expect(goldenCoverageGap([d!, ...refused])).toBeUndefined();
    // A case that allows proves nothing against a policy that allows everything.
    const allowedCancel = parseGoldenCases([{ ...refusals[2], expect: { allowed: true } }]);
    const withoutCancel = refused.filter((c) => 'authorize' in c && c.authorize.action !== 'cancel');
    expect(goldenCoverageGap([d!, ...withoutCancel, ...allowedCancel])).toMatch(/to refuse cancel$/);
  });
});

describe('runGoldenCase', () => {
  it('checks the outcome against one value or a list, and the cited reasons', () => {
    const [oneOf] = parseGoldenCases([
      {
        name: 'n',
        decide: { action_type: 'payment', context: { amount: 9 } },
        expect: { outcome: ['needs_approval', 'deny'], reasons_include: ['big'] },
      },
    ]);
    expect(runGoldenCase(target('deny', false, ['big', 'other']).t, oneOf!)).toBeUndefined();
    expect(runGoldenCase(target('auto_approve', false, ['big']).t, oneOf!)).toBe(
      'outcome auto_approve (expected needs_approval or deny), reasons big',
    );
    expect(runGoldenCase(target('needs_approval', false).t, oneOf!)).toBe('reasons none lack big');
  });

  it('builds the inputs from the case, with the golden requester by default', () => {
    const [d, a] = parseGoldenCases([
      { name: 'd', decide: { action_type: 'payment', context: { amount: 9 } }, expect: { outcome: 'deny' } },
      {
        name: 'a',
        authorize: { action: 'cancel', actor: 'eve', approver_roles: ['ops'], voted: ['frank'] },
        expect: { allowed: true },
      },
    ]);
    const { t, asked } = target('deny', true);
    expect(runGoldenCase(t, d!)).toBeUndefined();
    expect(runGoldenCase(t, a!)).toBeUndefined();
    expect(asked[0]).toMatchObject({
      action_type: 'payment',
      context: { amount: 9 },
      requested_by: 'countersign-golden-requester',
      now: expect.any(String),
    });
    expect(asked[1]).toEqual({
      action: 'cancel',
      actor: 'eve',
      approval: expect.objectContaining({
        requested_by: 'countersign-golden-requester',
        policy: expect.objectContaining({ approver_roles: ['ops'] }),
        votes: [{ voter: 'frank', approved: true, reason: null, at: expect.any(String) }],
      }),
    });
  });

  it('compares allowed and the refusal reasons', () => {
    const [a] = parseGoldenCases([
      {
        name: 'a',
        authorize: { action: 'decide', actor: 'x', approver_roles: [] },
        expect: { allowed: false, reasons_include: ['self_approval'] },
      },
    ]);
    expect(runGoldenCase(target('deny', true).t, a!)).toBe('allowed (expected refused), reasons none');
    expect(runGoldenCase(target('deny', false, ['missing_role']).t, a!)).toBe(
      'reasons missing_role lack self_approval',
    );
    expect(runGoldenCase(target('deny', false, ['self_approval']).t, a!)).toBeUndefined();
  });
});
