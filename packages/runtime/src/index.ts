export { CommonEnv, ConfigError, env, loadConfig } from './config.js';
export { coerceError, isRetryable } from './errors.js';
export { createLogger, type Logger, type LoggerOptions, REDACTED_PATHS, redactUrl } from './logger.js';
export { connectNats, type NatsOptions } from './nats.js';
export {
  type EndpointHandler,
  type EndpointHandlers,
  type HandlerContext,
  respondWithError,
  type ServiceOptions,
  startService,
} from './service.js';
export { handleSignals, memoStop, runMain, type Stoppable } from './shutdown.js';
