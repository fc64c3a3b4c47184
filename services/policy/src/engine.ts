import { createHash } from 'node:crypto';
import {
  type ApprovalRequest,
  type AuthorizeRequest,
  AuthorizeResponse,
  CountersignError,
  PolicyResult,
} from '@countersign/contracts';
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import type { z } from 'zod';
import { ENTRYPOINT_LIST, ENTRYPOINTS, type PolicyBundle } from './bundle.js';
import { describeLoadError, PolicyLoadError } from './errors.js';
import { type GoldenCase, goldenCoverageGap, runGoldenCase } from './golden.js';

/**
 * Builtins that @open-policy-agent/opa-wasm 1.10 implements in JavaScript. OPA compiles most
 * builtins into the module itself; any other import would throw at evaluation time, so a
 * module needing one is refused at load time instead. (scripts/test-policy.sh checks the same
 * list; engine.test.ts proves it matches the SDK.)
 */
export const SDK_BUILTINS: ReadonlySet<string> = new Set([
  'json.is_valid',
  'regex.split',
  'sprintf',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
]);

/** The decision entrypoint's input: the request plus `now`, since WASM has no clock. */
export type DecisionInput = ApprovalRequest & { now: string };
export type AuthorizeInput = AuthorizeRequest;

/** A result with the digest of the exact input bytes the policy saw, for the decision log. */
export interface Evaluation<T> {
  result: T;
  input_digest: string;
}

export interface LoadOptions {
  /**
   * Golden cases to run instead of the bundle's own. Default: the bundle's
   * (`bundle.goldenCases`), which must exist and ask both entrypoints. Tests pass `[]` to load
   * a deliberately broken policy; the service and `pnpm policy` never pass this.
   */
  goldenCases?: readonly GoldenCase[];
}

const encoder = new TextEncoder();

/**
 * One loaded policy: a WASM instance with its data, checked before anyone can use it.
 * Evaluation fails closed: an undefined result, an error inside the module or a result that
 * does not match the contract is an error, never a decision.
 */
export class PolicyEngine {
  readonly revision: string;
  readonly entrypoints: readonly string[];
  readonly #policy: LoadedPolicy;

  private constructor(policy: LoadedPolicy, revision: string) {
    this.#policy = policy;
    this.revision = revision;
    this.entrypoints = Object.keys(policy.entrypoints as Record<string, number>).sort();
  }

  /**
   * Instantiates a bundle and refuses it (PolicyLoadError) unless it carries golden cases for
   * both entrypoints, the module exports both entrypoints, needs no builtin the SDK lacks, and
   * answers every golden case as expected.
   */
  static async load(bundle: PolicyBundle, options: LoadOptions = {}): Promise<PolicyEngine> {
    const goldenCases = options.goldenCases ?? bundle.goldenCases ?? [];
    // Before any work: without its own cases nothing would stop a policy that fails open.
    const gap = options.goldenCases ? undefined : goldenCoverageGap(bundle.goldenCases);
    if (gap !== undefined) {
      throw new PolicyLoadError(
        'golden_cases_missing',
        `${gap}: add them beside the policy (countersign/golden.json)`,
      );
    }
    let policy: LoadedPolicy;
    try {
      // Copy: the module must not alias a buffer that is reused (Node pools small Buffers).
      policy = await loadPolicy(bundle.wasm.slice());
    } catch (err) {
      throw new PolicyLoadError(
        'invalid_wasm',
        `policy.wasm cannot be loaded: ${describeLoadError(err).message}`,
        {
          cause: err,
        },
      );
    }
    const exported = Object.keys(policy.entrypoints as Record<string, number>);
    const missing = ENTRYPOINT_LIST.filter((e) => !exported.includes(e));
    if (missing.length > 0) {
      throw new PolicyLoadError(
        'missing_entrypoint',
        `bundle lacks entrypoint ${missing.join(', ')} (has: ${exported.join(', ') || 'none'})`,
      );
    }
    // Before setData: the dump is allocated on the heap that setData resets.
    const unsupported = requiredBuiltins(policy).filter((b) => !SDK_BUILTINS.has(b));
    if (unsupported.length > 0) {
      throw new PolicyLoadError(
        'unsupported_builtin',
        `policy needs builtins the WASM SDK cannot provide: ${unsupported.join(', ')}`,
      );
    }
    try {
      policy.setData(bundle.data);
    } catch (err) {
      throw new PolicyLoadError(
        'invalid_bundle',
        `data cannot be loaded: ${describeLoadError(err).message}`,
        {
          cause: err,
        },
      );
    }
    const engine = new PolicyEngine(policy, bundle.revision);
    for (const golden of goldenCases) {
      let failure: string | undefined;
      try {
        failure = runGoldenCase(engine, golden);
      } catch (err) {
        failure = describeLoadError(err).message;
      }
      if (failure !== undefined) {
        throw new PolicyLoadError('golden_case_failed', `golden case "${golden.name}" failed: ${failure}`);
      }
    }
    return engine;
  }

  decide(input: DecisionInput): Evaluation<PolicyResult> {
    return this.#run(ENTRYPOINTS.decision, input, PolicyResult);
  }

  authorize(input: AuthorizeInput): Evaluation<AuthorizeResponse> {
    return this.#run(ENTRYPOINTS.authorize, input, AuthorizeResponse);
  }

  #run<S extends z.ZodType>(entrypoint: string, input: object, schema: S): Evaluation<z.infer<S>> {
    // Encode once: the same bytes are evaluated and digested. An exact ArrayBuffer, never a
    // Uint8Array (the SDK would stringify that as {"0":...} and silently answer undefined) and
    // never a view into a larger buffer (the SDK would read the whole buffer).
    const bytes = encoder.encode(JSON.stringify(input));
    const buffer =
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? (bytes.buffer as ArrayBuffer)
        : (bytes.slice().buffer as ArrayBuffer);
    const input_digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    let resultSet: unknown;
    try {
      resultSet = this.#policy.evaluate(buffer, entrypoint);
    } catch (err) {
      throw evaluationError(entrypoint, `evaluation error: ${describeLoadError(err).message}`, err);
    }
    if (!Array.isArray(resultSet) || resultSet.length === 0) {
      throw evaluationError(entrypoint, 'the policy result is undefined');
    }
    if (resultSet.length !== 1) {
      throw evaluationError(entrypoint, `the policy returned ${resultSet.length} results, expected 1`);
    }
    const parsed = schema.safeParse((resultSet[0] as { result?: unknown }).result);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)');
      throw evaluationError(
        entrypoint,
        `the policy result does not match the contract (${fields.join(', ')})`,
      );
    }
    return { result: parsed.data, input_digest };
  }
}

/**
 * `internal`: a policy that cannot answer must never let anything through. The caller retries
 * (approval intake) or answers `unavailable` to its own caller.
 */
function evaluationError(entrypoint: string, why: string, cause?: unknown): CountersignError {
  return new CountersignError(
    'internal',
    `policy ${entrypoint} failed closed: ${why}`,
    { entrypoint },
    { cause },
  );
}

interface OpaExports {
  builtins(): number;
  opa_json_dump(addr: number): number;
}

/** The host builtins the module imports, read from its own `builtins()` export. */
function requiredBuiltins(policy: LoadedPolicy): string[] {
  const holder = policy.wasmInstance;
  const instance = 'instance' in holder ? holder.instance : holder;
  const exports = instance.exports as unknown as OpaExports;
  const addr = exports.opa_json_dump(exports.builtins());
  const memory = new Uint8Array(policy.mem.buffer);
  const end = memory.indexOf(0, addr);
  const text = new TextDecoder().decode(memory.subarray(addr, end === -1 ? undefined : end));
  return Object.keys(JSON.parse(text) as Record<string, number>).sort();
}
