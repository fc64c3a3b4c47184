import {
  type Approval,
  type ApprovalRequest,
  AuthorizeAction,
  type AuthorizeRequest,
  type AuthorizeResponse,
  PolicyOutcome,
  type PolicyResult,
} from '@countersign/contracts';
import { z } from 'zod';
import { PolicyLoadError } from './errors.js';
import type { PolicyDirectory } from './roles.js';

/**
 * Golden cases: known inputs whose answers any acceptable policy must give. They are policy
 * facts, so they live beside the policy as data (the repository's `policies/countersign/golden.json`)
 * and travel inside its bundle: `opa build` merges that file into the bundle's data document at
 * `data.countersign.golden_cases`. A candidate bundle runs its own cases before it replaces the
 * current policy, so a bundle that compiles but decides nonsense (missing data, a rule that
 * approves everything) is refused. This module knows nothing of the engine: it validates the
 * cases and runs them against anything with the two entrypoints ({@link GoldenTarget}).
 *
 * Roles are not policy data (the service supplies the directory file's), so the cases carry
 * their own directory, `golden_directory` in the same file: the cases run against it and only
 * against it, and then give the same answers whoever the real directory lists.
 */

/** Where in the data document a bundle carries its golden cases. */
export const GOLDEN_CASES_PATH = ['countersign', 'golden_cases'] as const;

/**
 * Where it carries the directory its cases run with (identity -> roles). Not `directory`: that
 * name under `countersign` is where roles used to live, and a rule still reading it must not
 * find the fixture.
 */
export const GOLDEN_DIRECTORY_PATH = ['countersign', 'golden_directory'] as const;

/** The requester of every golden input unless a case names one. */
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

/** A case for `countersign/authorize/result`: who acts on a pending approval, and the answer. */
export const GoldenAuthorizeCase = z.strictObject({
  name: Name,
  authorize: z.strictObject({
    action: AuthorizeAction,
    actor: z.string(),
    /** The approval's `policy.approver_roles`. Default none. */
    approver_roles: z.array(z.string()).optional(),
    action_type: z.string().min(1).optional(),
    context: Context.optional(),
    requested_by: z.string().min(1).optional(),
    /** Identities that already voted on the approval. */
    voted: z.array(z.string().min(1)).optional(),
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
  const value = valueAt(data, GOLDEN_CASES_PATH);
  return value === undefined ? undefined : parseGoldenCases(value);
}

const GoldenRoles = z.record(z.string().min(1), z.array(z.string().min(1)));

/**
 * The directory the golden cases run with (`golden_directory`: identity -> roles); nobody when
 * the bundle carries none. A malformed one is refused with the field that is wrong.
 */
export function readGoldenDirectory(data: Record<string, unknown>): PolicyDirectory {
  const field = GOLDEN_DIRECTORY_PATH.at(-1) as string;
  const value = valueAt(data, GOLDEN_DIRECTORY_PATH);
  if (value === undefined) return { revision: field, roles: {} };
  const parsed = GoldenRoles.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [field, ...(issue?.path ?? []).map(String)].join('.');
    throw invalid(path, 'must map identities to lists of role names');
  }
  return { revision: field, roles: parsed.data };
}

function valueAt(data: Record<string, unknown>, path: readonly string[]): unknown {
  let node: unknown = data;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !(key in node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * Why a bundle's own cases are not enough to accept it, or undefined. Both entrypoints must be
 * exercised, and every authorize action must have a case that expects a refusal: a bundle whose
 * cases never see a refused cancel could let anyone cancel.
 */
export function goldenCoverageGap(cases: readonly GoldenCase[] | undefined): string | undefined {
  const where = `data.${GOLDEN_CASES_PATH.join('.')}`;
  if (!cases || cases.length === 0) return `the bundle carries no golden cases (${where})`;
  if (!cases.some((c) => 'decide' in c)) return `no golden case in ${where} asks the decision entrypoint`;
  const refused = new Set(
    cases.flatMap((c) => ('authorize' in c && !c.expect.allowed ? [c.authorize.action] : [])),
  );
  const unrefused = AuthorizeAction.options.filter((a) => !refused.has(a));
  if (unrefused.length > 0) {
    return `no golden case in ${where} expects the authorize entrypoint to refuse ${unrefused.join(', ')}`;
  }
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
    action: golden.authorize.action,
    approval: pendingApproval(golden.authorize, now),
    actor: golden.authorize.actor,
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
  const pause = input.action_type?.toLowerCase() === 'task_pause';
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
      reasons: [{ code: pause ? 'paused_task' : 'amount_threshold', message: 'golden' }],
      risk: 'high',
      required_approvals: 1,
      approver_roles: input.approver_roles ?? [],
      timeout_seconds: 3600,
      notify: [],
      revision: 'golden',
      decision_id: 'golden',
    },
    votes: (input.voted ?? []).map((voter) => ({ voter, approved: true, reason: null, at: now })),
    required_approvals: 1,
  };
}

function invalid(field: string, message: string): PolicyLoadError {
  return new PolicyLoadError('invalid_golden_cases', `golden case ${field}: ${message}`, { field });
}
