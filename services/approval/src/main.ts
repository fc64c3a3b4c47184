/**
 * The approval service process. The runtime's scaffold reads the configuration, migrates (or checks)
 * the schema, connects and logs `{"msg":"ready"}`; this ensures the streams and starts the service and
 * its HTTP server. SIGTERM stops HTTP, then the endpoints and the intake (in-flight batches
 * finish), drains NATS, closes the pool, exits 143.
 */
import { ServiceNames } from '@countersign/contracts';
import { ensureStreams, runService } from '@countersign/runtime';
import { jetstreamManager } from '@nats-io/jetstream';
import { ApprovalEnv } from './config.js';
import { startHttpServer } from './http/server.js';
import { approvalMigrations } from './migrations.js';
import { getApproval } from './queries.js';
import { startApprovalService } from './service.js';

await runService({
  name: ServiceNames.approval,
  env: ApprovalEnv,
  migrations: approvalMigrations,
  // A directory change's approval is read from this service's own database: asking itself over
  // NATS would wait, at start, for endpoints that need the directory to decide.
  approvals:
    ({ pool }) =>
    (id) => {
      if (!pool) throw new Error('the approval service has no database pool');
      return getApproval(pool, id);
    },
  async start({ settings, nc, pool, logger, directory }) {
    await ensureStreams(await jetstreamManager(nc), {
      replicas: settings.streamReplicas,
      auditHeadsMaxAgeSeconds: settings.service.audit.headsMaxAgeSeconds,
    });
    const service = await startApprovalService({
      nc,
      pool,
      logger,
      directory,
      keyring: settings.signingKeys,
      settings: settings.service,
    });
    const http = settings.http
      ? await startHttpServer({
          service,
          nc,
          logger,
          tokens: settings.apiTokens,
          settings: settings.http,
        }).catch(async (err: unknown) => {
          await service.stop();
          throw err;
        })
      : undefined;
    return {
      // HTTP first: /readyz turns 503 while the rest still works, then no new requests.
      stop: http ? [http, service] : [service],
      ready: {
        pool_size: settings.database.poolSize,
        batch_size: settings.service.intakeBatchSize,
        signing_kid: settings.signingKeys.activeKid,
        ...(http
          ? {
              http_url: http.url,
              public_url: http.publicUrl,
              api_tokens: settings.apiTokens.length,
              ...(settings.http?.oidc ? { oidc_issuer: settings.http.oidc.issuer } : {}),
            }
          : {}),
      },
    };
  },
});
