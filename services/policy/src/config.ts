import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommonEnv, env, runtimeSettings } from '@countersign/runtime';
import { z } from 'zod';

/** The repository's `policies/` (this file is services/policy/src/config.ts). */
export const DEFAULT_POLICY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../policies');
export const DEFAULT_POLICY_BUCKET = 'countersign-policy';

/** Environment variables of the policy service and of `pnpm policy`, with their defaults. */
export const PolicyVariables = CommonEnv.extend({
  /** Rego sources and data, built with `opa build` at start (and on change with POLICY_WATCH). */
  POLICY_DIR: z.string().min(1).default(DEFAULT_POLICY_DIR),
  /** A prebuilt bundle (.tar.gz) to load instead of building POLICY_DIR. */
  POLICY_BUNDLE: z.string().min(1).optional(),
  /** Dev hot reload: rebuild and swap when a file under POLICY_DIR changes. */
  POLICY_WATCH: env.bool(false),
  POLICY_WATCH_INTERVAL: env.duration('500ms', { min: 50, max: 60_000 }),
  /** Object store bucket to load and follow bundles from; empty turns it off. */
  POLICY_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, 'must be a bucket name (letters, digits, "_" and "-") or empty to disable')
    .default(DEFAULT_POLICY_BUCKET),
  /**
   * Policy changes need approval: load a bundle from the bucket only when the approval its
   * object names (`pnpm policy activate`) is approved for its revision. `false` lets whoever
   * can write the bucket put a bundle live (`publish --direct`, `promote --direct`); the
   * service warns at start.
   */
  POLICY_REQUIRE_APPROVAL: env.bool(true),
  /** Serve Prometheus metrics (shadow-mode disagreements) at /metrics on this port; unset: off. */
  POLICY_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * `opa`: besides the decision log, write every evaluation as an OPA decision-log event
   * (input and result included, so requesters' context reaches the log); `countersign`: not.
   */
  POLICY_DECISION_LOG: z.enum(['countersign', 'opa']).default('countersign'),
  /** The opa binary used to build bundles. */
  OPA_BIN: env.string('opa'),
});

type Variables = z.output<typeof PolicyVariables>;

const policySettings = (v: Variables) => ({
  dir: v.POLICY_DIR,
  bundlePath: v.POLICY_BUNDLE,
  watch: v.POLICY_WATCH,
  watchIntervalMs: v.POLICY_WATCH_INTERVAL,
  bucket: v.POLICY_BUCKET,
  opaBin: v.OPA_BIN,
  metricsPort: v.POLICY_METRICS_PORT,
  requireApproval: v.POLICY_REQUIRE_APPROVAL,
  decisionLog: v.POLICY_DECISION_LOG,
});

/** The policy service's settings, parsed from its environment. */
export const PolicyEnv = PolicyVariables.transform((v) => ({
  runtime: runtimeSettings(v),
  policy: policySettings(v),
}));
export type PolicyConfig = z.output<typeof PolicyEnv>;

/**
 * `pnpm policy`'s settings: the same variables, except that it judges bundles and serves nobody,
 * so it reads no directory and DIRECTORY_FILE is not required (its bundles are checked with
 * their golden directory, as every replica checks them).
 */
export const PolicyCliEnv = PolicyVariables.extend({ DIRECTORY_FILE: z.string().optional() }).transform(
  (v) => ({
    runtime: runtimeSettings({ ...v, DIRECTORY_FILE: v.DIRECTORY_FILE ?? '' }),
    policy: policySettings({ ...v, DIRECTORY_FILE: v.DIRECTORY_FILE ?? '' }),
  }),
);
