/**
 * The approval service process: the only place that reads configuration and connects. Migrates
 * the schema, ensures the streams, starts, and logs `{"msg":"ready"}`. SIGTERM stops the
 * endpoints and the intake (in-flight batches finish), drains NATS, closes the pool, exits 143.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceNames } from '@countersign/contracts';
import {
  ConfigError,
  connectNats,
  createLogger,
  ensureStreams,
  loadConfig,
  memoStop,
  migrate,
  runMain,
} from '@countersign/runtime';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { ApprovalEnv } from './config.js';
import { type HttpServer, startHttpServer } from './http/server.js';
import { startApprovalService } from './service.js';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), '../migrations');

let config: ApprovalEnv;
try {
  config = loadConfig(ApprovalEnv);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger({ service: ServiceNames.approval }).fatal({ reason: err.message }, 'invalid configuration');
  process.exit(1);
}

const logger = createLogger({
  service: ServiceNames.approval,
  level: config.LOG_LEVEL,
  pretty: config.LOG_PRETTY,
});

await runMain(
  logger,
  async () => {
    const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: config.DB_POOL_SIZE });
    // Without a listener, an idle client's error (database restart) would crash the process.
    pool.on('error', (err) => logger.warn({ err }, 'idle database connection failed'));
    let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
    try {
      await migrate(pool, { dir: MIGRATIONS, schema: 'approval', logger });
      nc = await connectNats({
        url: config.NATS_URL,
        name: ServiceNames.approval,
        user: config.NATS_USER,
        pass: config.NATS_PASSWORD,
        logger,
      });
      await ensureStreams(await jetstreamManager(nc), { replicas: config.NATS_STREAM_REPLICAS });
      const service = await startApprovalService({
        nc,
        pool,
        logger,
        config: {
          intakeBatchSize: config.INTAKE_BATCH_SIZE,
          intakeConcurrency: config.INTAKE_CONCURRENCY,
          intakeAckWaitMs: config.INTAKE_ACK_WAIT_MS,
          intakeMaxAckPending: config.INTAKE_MAX_ACK_PENDING,
          intakeRetryBaseMs: config.INTAKE_RETRY_BASE_MS,
          intakeRetryMaxMs: config.INTAKE_RETRY_MAX_MS,
          intakePoisonAttempts: config.INTAKE_POISON_ATTEMPTS,
          policyTimeoutMs: config.POLICY_TIMEOUT_MS,
          expiryIntervalMs: config.EXPIRY_INTERVAL_MS,
          expiryBatchSize: config.EXPIRY_BATCH_SIZE,
          outboxPollMs: config.OUTBOX_POLL_MS,
          outboxBatchSize: config.OUTBOX_BATCH_SIZE,
          outboxPublishTimeoutMs: config.OUTBOX_PUBLISH_TIMEOUT_MS,
        },
      });
      let http: HttpServer | undefined;
      if (config.HTTP_PORT !== undefined && config.REVIEW_LINK_SECRET !== undefined) {
        try {
          http = await startHttpServer({
            service,
            nc,
            logger,
            tokens: config.API_TOKENS,
            settings: {
              port: config.HTTP_PORT,
              host: config.HTTP_HOST,
              publicUrl: config.PUBLIC_URL,
              reviewLinkSecret: config.REVIEW_LINK_SECRET,
              sessionSecret: config.SESSION_SECRET,
              sessionTtlSeconds: config.SESSION_TTL_SECONDS,
              bodyLimit: config.HTTP_BODY_LIMIT,
              sseHeartbeatMs: config.HTTP_SSE_HEARTBEAT_MS,
              readyTimeoutMs: config.HTTP_READY_TIMEOUT_MS,
              drainMs: config.HTTP_DRAIN_MS,
              expiryBatchSize: config.EXPIRY_BATCH_SIZE,
            },
          });
        } catch (err) {
          await service.stop();
          throw err;
        }
      }
      logger.info(
        {
          pool_size: config.DB_POOL_SIZE,
          batch_size: config.INTAKE_BATCH_SIZE,
          ...(http
            ? { http_url: http.url, public_url: http.publicUrl, api_tokens: config.API_TOKENS.length }
            : {}),
        },
        'ready',
      );
      const connection = nc;
      return {
        stop: memoStop(async () => {
          // HTTP first: /readyz turns 503 while the rest still works, then no new requests.
          await http?.stop();
          await service.stop();
          await connection.drain();
          await pool.end();
        }),
      };
    } catch (err) {
      await nc?.close().catch(() => {});
      await pool.end().catch(() => {});
      throw err;
    }
  },
  config.SHUTDOWN_TIMEOUT_MS,
);
