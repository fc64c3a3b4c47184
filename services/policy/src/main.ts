/**
 * The policy service process: the only place that reads configuration and connects.
 * Logs `{"msg":"ready","revision":...}` once it serves; SIGTERM stops the endpoints, drains
 * NATS and exits 143.
 */
import { ServiceNames } from '@countersign/contracts';
import { ConfigError, connectNats, createLogger, loadConfig, memoStop, runMain } from '@countersign/runtime';
import { PolicyEnv } from './config.js';
import { startPolicyService } from './service.js';

let config: PolicyEnv;
try {
  config = loadConfig(PolicyEnv);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger({ service: ServiceNames.policy }).fatal({ reason: err.message }, 'invalid configuration');
  process.exit(1);
}

const logger = createLogger({
  service: ServiceNames.policy,
  level: config.LOG_LEVEL,
  pretty: config.LOG_PRETTY,
});

await runMain(
  logger,
  async () => {
    const nc = await connectNats({
      url: config.NATS_URL,
      name: ServiceNames.policy,
      user: config.NATS_USER,
      pass: config.NATS_PASSWORD,
      logger,
    });
    let policy: Awaited<ReturnType<typeof startPolicyService>>;
    try {
      policy = await startPolicyService(
        nc,
        {
          dir: config.POLICY_DIR,
          bundlePath: config.POLICY_BUNDLE,
          watch: config.POLICY_WATCH,
          watchIntervalMs: config.POLICY_WATCH_INTERVAL_MS,
          bucket: config.POLICY_BUCKET,
          opaBin: config.OPA_BIN,
        },
        logger,
      );
    } catch (err) {
      await nc.close();
      throw err;
    }
    logger.info({ revision: policy.holder.revision, source: policy.holder.status().source }, 'ready');
    return {
      stop: memoStop(async () => {
        await policy.stop();
        await nc.drain();
      }),
    };
  },
  config.SHUTDOWN_TIMEOUT_MS,
);
