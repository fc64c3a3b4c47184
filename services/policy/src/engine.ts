import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  type ApprovalRequest,
  type AuthorizeRequest,
  AuthorizeResponse,
  CountersignError,
  PolicyResult,
} from '@countersign/contracts';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import type { z } from 'zod';
import { ENTRYPOINT_LIST, ENTRYPOINTS, type PolicyBundle } from './bundle.js';
import { describeLoadError, PolicyLoadError } from './errors.js';
import { type GoldenCase, goldenCoverageGap, readGoldenDirectory, runGoldenCase } from './golden.js';
import { DIRECTORY_DATA_KEY, EMPTY_DIRECTORY, type PolicyDirectory } from './roles.js';

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

// The package's ESM entry re-exports only loadPolicy; the synchronous loader (which a directory
// change needs, to swap engines between two requests) is on its CommonJS entry, the same module.
const { loadPolicySync } = createRequire(import.meta.url)(
  '@open-policy-agent/opa-wasm',
) as typeof import('@open-policy-agent/opa-wasm');

// Node's WebAssembly global; this project's TypeScript libs declare only its types.
const { compile: compileWasm } = (
  globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }
).WebAssembly;

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
   * (`bundle.goldenCases`). Tests pass `[]` to load a deliberately broken policy; the service
   * and `pnpm policy` never pass this.
   */
  goldenCases?: readonly GoldenCase[];
  /**
   * The roles the policy serves with, at `data.directory`. Default: nobody
   * ({@link EMPTY_DIRECTORY}), so a policy loaded without one refuses every actor. The golden
   * cases never see it: they run with the bundle's `golden_directory`.
   */
  directory?: PolicyDirectory;
}

const encoder = new TextEncoder();

/**
 * One loaded policy: a WASM instance with its data and a directory, checked before anyone can
 * use it. Immutable: a new directory gives a new engine ({@link withDirectory}). Evaluation
 * fails closed: an undefined result, an error inside the module or a result that does not
 * match the contract is an error, never a decision.
 */
export class PolicyEngine {
  /** The bundle's revision. */
  readonly revision: string;
  /** The revision of the directory whose roles this engine sees. */
  readonly directoryRevision: string;
  readonly entrypoints: readonly string[];
  /**
   * Why this policy is less guarded than it should be (no golden cases, or none refusing an
   * authorize action). It loads anyway: another organisation's policy starts without cases,
   * and refusing it would leave no way in. The holder logs these and shows them in stats.
   */
  readonly warnings: readonly string[];
  readonly #policy: LoadedPolicy;
  readonly #module: WebAssembly.Module;
  readonly #data: Record<string, unknown>;

  private constructor(
    module: WebAssembly.Module,
    data: Record<string, unknown>,
    revision: string,
    directory: PolicyDirectory,
    warnings: readonly string[] = [],
  ) {
    this.#module = module;
    this.warnings = warnings;
    this.#data = data;
    // Instantiating a compiled module is cheap and synchronous: a directory change swaps
    // engines between two requests, never during one.
    this.#policy = loadPolicySync(module);
    this.#policy.setData({ ...data, [DIRECTORY_DATA_KEY]: directory.roles });
    this.revision = revision;
    this.directoryRevision = directory.revision;
    this.entrypoints = Object.keys(this.#policy.entrypoints as Record<string, number>).sort();
  }

  /** The bundle's data document (the directory aside): what a policy change's diff compares. */
  get data(): Readonly<Record<string, unknown>> {
    return this.#data;
  }

  /**
   * Instantiates a bundle and refuses it (PolicyLoadError) unless it leaves the directory to
   * the service, the module exports both entrypoints, needs no builtin the SDK lacks, and
   * answers every golden case it carries as expected with its golden directory. A bundle
   * without golden cases (or without a refusal case for every authorize action) loads with a
   * warning ({@link warnings}): the cases are the bundle's own input, so the engine knows no
   * organisation's rules. Then it serves with `directory`.
   */
  static async load(bundle: PolicyBundle, options: LoadOptions = {}): Promise<PolicyEngine> {
    const goldenCases = options.goldenCases ?? bundle.goldenCases ?? [];
    const gap = options.goldenCases ? undefined : goldenCoverageGap(bundle.goldenCases);
    const warnings =
      gap === undefined ? [] : [`${gap}: add them beside the policy (countersign/golden.json)`];
    refuseBundledDirectory(bundle.data);
    const goldenDirectory = readGoldenDirectory(bundle.data);
    let module: WebAssembly.Module;
    let probe: LoadedPolicy;
    try {
      // Copy: the module must not alias a buffer that is reused (Node pools small Buffers).
      // Compiled once; every engine of this bundle (one per directory) instantiates it.
      module = await compileWasm(bundle.wasm.slice());
      probe = loadPolicySync(module);
    } catch (err) {
      throw new PolicyLoadError(
        'invalid_wasm',
        `policy.wasm cannot be loaded: ${describeLoadError(err).message}`,
        {
          cause: err,
        },
      );
    }
    const exported = Object.keys(probe.entrypoints as Record<string, number>);
    const missing = ENTRYPOINT_LIST.filter((e) => !exported.includes(e));
    if (missing.length > 0) {
      throw new PolicyLoadError(
        'missing_entrypoint',
        `bundle lacks entrypoint ${missing.join(', ')} (has: ${exported.join(', ') || 'none'})`,
      );
    }
    // On the probe, which never gets data: the dump is allocated on the heap setData resets.
    const unsupported = requiredBuiltins(probe).filter((b) => !SDK_BUILTINS.has(b));
    if (unsupported.length > 0) {
      throw new PolicyLoadError(
        'unsupported_builtin',
        `policy needs builtins the WASM SDK cannot provide: ${unsupported.join(', ')}`,
      );
    }
    let golden: PolicyEngine;
    try {
      golden = new PolicyEngine(module, bundle.data, bundle.revision, goldenDirectory, warnings);
    } catch (err) {
      throw new PolicyLoadError(
        'invalid_bundle',
        `data cannot be loaded: ${describeLoadError(err).message}`,
        {
          cause: err,
        },
      );
    }
    for (const goldenCase of goldenCases) {
      let failure: string | undefined;
      try {
        failure = runGoldenCase(golden, goldenCase);
      } catch (err) {
        failure = describeLoadError(err).message;
      }
      if (failure !== undefined) {
        throw new PolicyLoadError(
          'golden_case_failed',
          `golden case "${goldenCase.name}" failed: ${failure}`,
        );
      }
    }
    return golden.withDirectory(options.directory ?? EMPTY_DIRECTORY);
  }

  /** The same policy serving with another directory (after DIRECTORY_FILE changed). */
  withDirectory(directory: PolicyDirectory): PolicyEngine {
    return new PolicyEngine(this.#module, this.#data, this.revision, directory, this.warnings);
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

/**
 * Roles are the directory file's: a bundle bringing its own would be silently overridden (at
 * `data.directory`) or silently ignored (at `data.countersign.directory`, where they lived
 * before), and an operator editing it would believe roles changed. Refused with the fix.
 */
function refuseBundledDirectory(data: Record<string, unknown>): void {
  const countersign = data.countersign;
  const stale = typeof countersign === 'object' && countersign !== null && DIRECTORY_DATA_KEY in countersign;
  if (DIRECTORY_DATA_KEY in data || stale) {
    const at = stale ? `countersign.${DIRECTORY_DATA_KEY}` : DIRECTORY_DATA_KEY;
    throw new PolicyLoadError(
      'invalid_bundle',
      `the bundle's data carries ${at}: roles come from the directory file (DIRECTORY_FILE); remove it from the policy data`,
      { field: at },
    );
  }
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
