export { BUNDLE_OBJECT, followBucket, getBundle, openPolicyBucket, putBundle } from './bucket.js';
export {
  type BuildOptions,
  type BuiltBundle,
  type BundleManifest,
  buildBundle,
  ENTRYPOINT_LIST,
  ENTRYPOINTS,
  type PolicyBundle,
  readBundle,
  sourceRevision,
} from './bundle.js';
export { DEFAULT_POLICY_BUCKET, DEFAULT_POLICY_DIR, PolicyEnv } from './config.js';
export {
  type AuthorizeInput,
  type DecisionInput,
  type Evaluation,
  type LoadOptions,
  PolicyEngine,
  SDK_BUILTINS,
} from './engine.js';
export { describeLoadError, PolicyLoadError, type PolicyLoadErrorKind } from './errors.js';
export {
  GOLDEN_CASES_PATH,
  GOLDEN_DIRECTORY_PATH,
  GOLDEN_REQUESTER,
  GoldenAuthorizeCase,
  type GoldenCase,
  GoldenDecideCase,
  type GoldenTarget,
  goldenCoverageGap,
  parseGoldenCases,
  readGoldenCases,
  readGoldenDirectory,
  runGoldenCase,
} from './golden.js';
export { type PolicyEndpoint, policyHandlers } from './handlers.js';
export { type ActivePolicy, PolicyHolder, type ReloadStatus, type SwapResult } from './holder.js';
export { DIRECTORY_DATA_KEY, EMPTY_DIRECTORY, type PolicyDirectory, policyDirectory } from './roles.js';
export { type PolicyService, type PolicyServiceOptions, startPolicyService } from './service.js';
export { readTar, readTarGz } from './tar.js';
export { type Watcher, watchPolicyDir } from './watch-dir.js';
