import {
  type Approval,
  type ApprovalRequest,
  type AuthorizeRequest,
  type AuthorizeResponse,
  PolicyOutcome,
  type PolicyResult,
} from '@countersign/contracts';
import { z } from 'zod';
import { PolicyLoadError } from './errors.js';

/**
 * Golden cases: known inputs whose answers any acceptable policy must give. They are policy
 * facts, so they live beside the policy as data (the repository's `policies/countersign/golden.json`)
 * and travel inside its bundle: `opa build` merges that file into the bundle's data document at
 * `data.countersign.golden_cases`. A candidate bundle runs its own cases before it replaces the
 * current policy, so a bundle that compiles but decides nonsense (missing data, a rule that
 * approves everything) is refused. This module knows nothing of the engine: it validates the
 * cases and runs them against anything with the two entrypoints ({@link GoldenTarget}).
 */

/** Where in the data document a bundle carries its golden cases. */
export const GOLDEN_CASES_PATH = ['countersign', 'golden_cases'] as const;

/** The requester of every golden input unless a case names one; no directory should name it. */
export const GOLDEN_REQUESTER = 'countersign-golden-requester';

const Name = z.string().min(1);
const Codes = z.array(z.string().min(1)).min(1);
const Context = z.record(z.string(), z.unknown());

/** A case for `countersign/decision/result`: a request and what the decision must show. */
export const GoldenDecideCase = z.strictObject({
  name: Name,
  decide: z.strictObject({
    action_type: z.string().min(1),
    context: Context.optional(),
    requested_by: z.string().min(1).optional(),
  }),
  expect: z
    .strictObject({
      /** The outcome, or the outcomes any one of which is acceptable. */
      outcome: z
        .union([PolicyOutcome, z.array(PolicyOutcome).min(1)], {
          error: `must be one of ${PolicyOutcome.options.join(', ')}, or a list of them`,
        })
        .optional(),
      /** Reason codes the decision must cite (others may be cited too). */
      reasons_include: Codes.optional(),
    })
    .refine((e) => e.outcome !== undefined || e.reasons_include !== undefined, {
      message: 'expects nothing: give outcome, reasons_include or both',
    }),
});
export type GoldenDecideCase = z.infer<typeof GoldenDecideCase>;

/** A case for `countersign/authorize/result`: who decides a pending approval, and the answer. */
export const GoldenAuthorizeCase = z.strictObject({
  name: Name,
  authorize: z.strictObject({
    decider: z.string(),
    /** The approval's `policy.approver_roles`. */
    approver_roles: z.array(z.string()),
    action_type: z.string().min(1).optional(),
    context: Context.optional(),
    requested_by: z.string().min(1).optional(),
    owner: z.string().min(1).optional(),
  }),
  expect: z.strictObject({
    allowed: z.boolean(),
    reasons_include: Codes.optional(),
  }),
});
export type GoldenAuthorizeCase = z.infer<typeof GoldenAuthorizeCase>;

export type GoldenCase = GoldenDecideCase | GoldenAuthorizeCase;

/** What golden cases run against: a loaded policy's two entrypoints. */
export interface GoldenTarget {
  decide(input: ApprovalRequest & { now: string }): { result: PolicyResult };
  authorize(input: AuthorizeRequest): { result: AuthorizeResponse };
}

/**
 * Validates a list of golden cases (the value at {@link GOLDEN_CASES_PATH}). Each case has
 * either `decide` or `authorize`; a bad one is refused with the field that is wrong, e.g.
 * `golden_cases.1.expect.outcome`.
 */
export function parseGoldenCases(value: unknown): GoldenCase[] {
  const field = GOLDEN_CASES_PATH.at(-1) as string;
  if (!Array.isArray(value)) throw invalid(field, 'must be an array of golden cases');
  return value.map((item: unknown, i) => {
    const at = `${field}.${i}`;
    const isObject = typeof item === 'object' && item !== null && !Array.isArray(item);
    const schema = !isObject
      ? undefined
      : 'decide' in item
        ? GoldenDecideCase
        : 'authorize' in item
          ? GoldenAuthorizeCase
          : undefined;
    if (!schema) throw invalid(at, 'must be an object with either "decide" or "authorize"');
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = [at, ...(issue?.path ?? []).map(String)].join('.');
      throw invalid(path, issue?.message ?? 'invalid');
    }
    return parsed.data;
  });
}

/** The golden cases a bundle's data document carries, or undefined when it carries none. */
export function readGoldenCases(data: Record<string, unknown>): GoldenCase[] | undefined {
  let node: unknown = data;
  for (const key of GOLDEN_CASES_PATH) {
    if (typeof node !== 'object' || node === null || !(key in node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return parseGoldenCases(node);
}

/**
 * Why a bundle's own cases are not enough to accept it, or undefined. Both entrypoints must be
 * exercised: a bundle whose cases only ask the decision entrypoint could authorize anyone.
 */
export function goldenCoverageGap(cases: readonly GoldenCase[] | undefined): string | undefined {
  const where = `data.${GOLDEN_CASES_PATH.join('.')}`;
  if (!cases || cases.length === 0) return `the bundle carries no golden cases (${where})`;
  if (!cases.some((c) => 'decide' in c)) return `no golden case in ${where} asks the decision entrypoint`;
  if (!cases.some((c) => 'authorize' in c)) return `no golden case in ${where} asks the authorize entrypoint`;
  return undefined;
}

/** Runs one case: undefined when the policy answered as expected, otherwise what was wrong. */
export function runGoldenCase(target: GoldenTarget, golden: GoldenCase): string | undefined {
  const now = new Date().toISOString();
  if ('decide' in golden) {
    const { result } = target.decide({
      action_id: 'golden',
      action_type: golden.decide.action_type,
      description: 'golden case run by the policy service before accepting a bundle',
      context: golden.decide.context ?? {},
      requested_by: golden.decide.requested_by ?? GOLDEN_REQUESTER,
      now,
    });
    const { outcome, reasons_include } = golden.expect;
    const allowed = outcome === undefined ? undefined : [outcome].flat();
    if (allowed && !allowed.includes(result.outcome)) {
      return `outcome ${result.outcome} (expected ${allowed.join(' or ')}), reasons ${codes(result.reasons)}`;
    }
    return missingCodes(reasons_include, result.reasons);
  }
  const { result } = target.authorize({
    approval: pendingApproval(golden.authorize, now),
    decider: golden.authorize.decider,
    ...(golden.authorize.owner === undefined ? {} : { owner: golden.authorize.owner }),
  });
  if (result.allowed !== golden.expect.allowed) {
    return `${result.allowed ? 'allowed' : 'refused'} (expected ${golden.expect.allowed ? 'allowed' : 'refused'}), reasons ${codes(result.reasons)}`;
  }
  return missingCodes(golden.expect.reasons_include, result.reasons);
}

const codes = (reasons: { code: string }[]) => reasons.map((r) => r.code).join(',') || 'none';

function missingCodes(wanted: string[] | undefined, reasons: { code: string }[]): string | undefined {
  const have = reasons.map((r) => r.code);
  const missing = (wanted ?? []).filter((c) => !have.includes(c));
  return missing.length === 0 ? undefined : `reasons ${codes(reasons)} lack ${missing.join(', ')}`;
}

function pendingApproval(input: GoldenAuthorizeCase['authorize'], now: string): Approval {
  return {
    action_id: 'golden',
    action_type: input.action_type ?? 'payment',
    description: 'golden case',
    context: input.context ?? { amount: 1500 },
    requested_by: input.requested_by ?? GOLDEN_REQUESTER,
    run_id: null,
    status: 'pending',
    created_at: now,
    expires_at: now,
    decided_at: null,
    decided_by: null,
    decision_reason: null,
    policy: {
      outcome: 'needs_approval',
      reasons: [{ code: 'amount_threshold', message: 'golden' }],
      risk: 'high',
      required_approvals: 1,
      approver_roles: input.approver_roles,
      timeout_seconds: 3600,
      notify: [],
      revision: 'golden',
      decision_id: 'golden',
    },
    votes: [],
    required_approvals: 1,
  };
}

function invalid(field: string, message: string): PolicyLoadError {
  return new PolicyLoadError('invalid_golden_cases', `golden case ${field}: ${message}`, { field });
}
