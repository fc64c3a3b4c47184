export {
  type ApiToken,
  type Identified,
  MIN_TOKEN_LENGTH,
  parseApiTokens,
  sha256,
  TokenStore,
} from './api-tokens.js';
export {
  type ApprovalLookup,
  type ApprovalOfChange,
  approvalsOverNats,
  ChangeNotApprovedError,
  type ChangeToCheck,
  requireApprovedChange,
} from './approved-change.js';
export {
  type BatchConsumer,
  type BatchConsumerOptions,
  type MessageOutcome,
  startBatchConsumer,
} from './batch-consumer.js';
export {
  CommonEnv,
  ConfigError,
  type ConfigIssue,
  DatabaseEnv,
  type DatabaseSettings,
  databaseSettings,
  env,
  loadConfig,
  MigrationEnv,
  type MigrationSettings,
  RetentionEnv,
  type RuntimeRole,
  type RuntimeSettings,
  runtimeSettings,
} from './config.js';
export { databaseError, errorCode, isConnectionError, isDataError, query, withTransaction } from './db.js';
export {
  APPROVAL_HEADER,
  checkActivation,
  DEFAULT_DIRECTORY_BUCKET,
  DIRECTORY_CHANGE_ACTION_TYPE,
  Directory,
  type DirectoryChange,
  DirectoryChangeError,
  type DirectoryDiff,
  DirectoryError,
  type DirectoryHolder,
  type DirectoryOptions,
  directoryDiff,
  directoryDigest,
  directoryStream,
  ensureDirectoryStore,
  followDirectoryStore,
  type LiveDirectory,
  liveSubject,
  MAX_DIRECTORY_BYTES,
  type OidcClaims,
  type OpenedDirectory,
  openDirectory,
  type Principal,
  prepareDirectoryChange,
  putLiveDirectory,
  readLiveDirectory,
  resolveDirectoryStore,
} from './directory/index.js';
export {
  type DurableConsumer,
  type EnsureConsumerOptions,
  ensureDurableConsumer,
} from './durable-consumer.js';
export { DURATION_FORMAT, formatDuration, parseDuration, parseDurationList } from './duration.js';
export { coerceError, isRetryable } from './errors.js';
export { deriveKey, type KeyPurpose } from './keys.js';
export {
  createLogger,
  flatLineLogger,
  type Logger,
  type LoggerOptions,
  REDACTED_PATHS,
  redactUrl,
} from './logger.js';
export {
  grantRuntimeRole,
  type MigrateOptions,
  type MigrationFile,
  type MigrationSet,
  migrate,
  migrationFiles,
} from './migrate.js';
export { type MigrateCommandOptions, migrateAll, runMigrateCommand } from './migrate-command.js';
export { connectCli, connectNats, NatsCredentialsError, type NatsOptions } from './nats.js';
export { type NatsAuthOptions, type NatsCredentialSettings, natsAuthOptions } from './nats-credentials.js';
export {
  RETENTION_CUTOFF,
  type RetentionJob,
  type RetentionOptions,
  type RetentionResult,
  type RetentionStep,
  runRetention,
  startRetentionJob,
} from './retention.js';
export {
  mintReviewToken,
  type ReviewClaims,
  type ReviewTokenError,
  ReviewTokenInvalid,
  reviewUrl,
  verifyReviewToken,
} from './review-link.js';
export {
  runService,
  type ScaffoldSettings,
  type ServiceContext,
  type ServiceDefinition,
  type StartedService,
} from './scaffold.js';
export {
  type AppliedMigration,
  appliedMigrations,
  checkSchemaVersion,
  compareSchema,
  type SchemaMismatch,
  SchemaVersionError,
} from './schema-version.js';
export { Secret } from './secret.js';
export {
  actorOfSubject,
  type EndpointHandler,
  type EndpointHandlers,
  type HandlerContext,
  respondWithError,
  type ServiceOptions,
  startService,
} from './service.js';
export { handleSignals, memoStop, runMain, type Stoppable } from './shutdown.js';
export {
  generateSigningJwk,
  jwkThumbprint,
  Keyring,
  keySetText,
  newKeySetText,
  type PrivateJwk,
  type PublicJwk,
  rotatedKeySetText,
  SigningKeysError,
} from './signing-keys.js';
export { describeDatabase, describeNats, probeDatabase, StartupError } from './startup.js';
export { ensureStreams, type StreamOptions, streamConfigs } from './streams.js';
export { backoffDelay, type Sleeper, sleeper } from './timing.js';
export {
  activeTraceContext,
  contextFromCarrier,
  contextFromHeaders,
  contextOf,
  inTrace,
  markFailed,
  type Span,
  SpanKind,
  type SpanOptions,
  startSpan,
  startTracing,
  type TraceCarrier,
  type TraceContext,
  type Tracing,
  type TracingSettings,
  traceCarrier,
  traceHeaders,
  tracingEnabled,
  withContext,
  withSpan,
} from './tracing.js';
export { type RevisionWatchOptions, type Watcher, watchRevision } from './watch-revision.js';
