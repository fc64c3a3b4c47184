export {
  dockerfile,
  dockerfileStages,
  type Instruction as DockerInstruction,
  imageNodeOptions,
  type Stage as DockerStage,
  stageEnv,
} from './dockerfile.js';
export { type FaultProxy, type FaultProxyOptions, startFaultProxy } from './fault-proxy.js';
export { type Infra, type InfraOptions, startInfra } from './infra.js';
export { type MailSink, type MailSinkOptions, type ReceivedMail, startMailSink } from './mail-sink.js';
export {
  NatsAuth,
  NatsAuthError,
  type NatsDirectory,
  type NatsLogin,
  type NatsPermissions,
  type NatsPrincipal,
  type NatsSecrets,
  type NatsUser,
  natsAuthConfig,
  natsUsers,
  passwordVariable,
  principalPermissions,
  SERVICE_USERS,
  type ServiceUser,
} from './nats-auth.js';
export { type NatsCluster, startNatsCluster } from './nats-cluster.js';
export { type NatsServerHandle, type NatsServerOptions, startNatsServer } from './nats-server.js';
export {
  type OidcAccount,
  type OidcClientRegistration,
  type OidcProviderHandle,
  type OidcProviderOptions,
  startOidcProvider,
} from './oidc-provider.js';
export { freePort, isListening, waitFor } from './ports.js';
export {
  createDatabase,
  dropDatabase,
  type PostgresHandle,
  type PostgresOptions,
  postgresBinDir,
  startPostgres,
} from './postgres.js';
export { type ManagedProcess, spawnManaged, stopProcess } from './processes.js';
export {
  type ServiceCommand,
  type ServiceName,
  type ServiceProcess,
  ServiceStartError,
  type SpawnServiceOptions,
  startServiceProcess,
} from './service-process.js';
export { REPO_ROOT, tool, toolsBinDir } from './tools.js';
