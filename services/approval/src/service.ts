import { ServiceNames } from '@countersign/contracts';
import {
  type DirectoryHolder,
  type Keyring,
  type Logger,
  memoStop,
  startService,
} from '@countersign/runtime';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type pg from 'pg';
import pkg from '../package.json' with { type: 'json' };
import { type AuditHeads, startAuditHeads } from './audit-heads.js';
import type { ApprovalConfig } from './config.js';
import { approvalHandlers } from './endpoints.js';
import { type ExpiryLoop, startExpiryLoop } from './expiry.js';
import { type Intake, startIntake } from './intake.js';
import type { LifecycleDeps } from './lifecycle/index.js';
import { type ApprovalMetrics, createApprovalMetrics } from './metrics.js';
import { type OutboxRelay, startOutboxRelay } from './outbox.js';
import { natsPolicyClient, type PolicyClient } from './policy.js';
import { startApprovalRetention } from './retention.js';

/**
 * Tuning of a running service, from its environment (config.ts has each setting's meaning and
 * default; tests take the defaults from there too).
 */
export type ApprovalSettings = ApprovalConfig['service'] & {
  /** Services-framework queue group; the framework's default `q` when absent. */
  queue?: string;
};

export interface ApprovalServiceOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  logger: Logger;
  settings: ApprovalSettings;
  /** The directory of people and requesting systems (the scaffold opens and reloads it). */
  directory: DirectoryHolder;
  /** The signing keys (SIGNING_KEYS_FILE / SIGNING_KEYS): receipts are signed with the first private key. */
  keyring: Keyring;
  /** Replaces the NATS policy client (e.g. a differently configured one); never a mock in tests. */
  policy?: PolicyClient;
  /** Metrics to feed; a fresh per-instance registry when absent. */
  metrics?: ApprovalMetrics;
}

export interface ApprovalService {
  /** The lifecycle functions bound to this service's pool and policy client (for HTTP, cleanup). */
  deps: LifecycleDeps;
  /** This instance's metrics (the HTTP server's `/metrics` renders them). */
  metrics: ApprovalMetrics;
  /**
   * Stops the endpoints, the intake consumer (batches in flight finish and are acked), the
   * relay and the expiry loop. Idempotent; never closes `nc` or `pool`, which the caller owns.
   */
  stop(): Promise<void>;
}

/**
 * Starts the approval service on an open connection and pool whose schema is migrated and whose
 * streams exist (the scaffold migrates, main.ts ensures the streams): the `approval` command
 * endpoints, the intake consumer, the outbox relay, the expiry loop and the signed audit heads.
 */
export async function startApprovalService(options: ApprovalServiceOptions): Promise<ApprovalService> {
  const settings = options.settings;
  const logger = options.logger;
  const metrics =
    options.metrics ??
    createApprovalMetrics({ pool: options.pool, logger, cacheMs: settings.metricsCacheMs });
  const deps: LifecycleDeps = {
    pool: options.pool,
    policy: options.policy ?? natsPolicyClient(options.nc, settings.policyTimeoutMs),
    directory: () => options.directory.current(),
    logger,
    keyring: options.keyring,
    issuer: settings.receiptIssuer,
    metrics,
    audit: {
      key: settings.audit.keys.current,
      heads: { published: (heads) => auditHeads.published(heads) },
    },
  };
  const js = jetstream(options.nc);
  const jsm = await jetstreamManager(options.nc);

  // Signed heads of the audit chains, fed by every committed change; stopped last, so the heads
  // of the last batches still go out.
  const auditHeads: AuditHeads = startAuditHeads({
    pool: options.pool,
    js,
    signer: options.keyring,
    logger,
    checkpointIntervalMs: settings.audit.checkpointIntervalMs,
    publishTimeoutMs: settings.outboxPublishTimeoutMs,
  });
  const started: { stop(): Promise<void> }[] = [auditHeads];
  try {
    const relay: OutboxRelay = startOutboxRelay({
      pool: options.pool,
      js,
      logger,
      pollMs: settings.outboxPollMs,
      batchSize: settings.outboxBatchSize,
      publishTimeoutMs: settings.outboxPublishTimeoutMs,
    });
    started.push(relay);
    const expiry: ExpiryLoop = startExpiryLoop(deps, {
      intervalMs: settings.expiryIntervalMs,
      batchSize: settings.expiryBatchSize,
      logger,
    });
    started.push(expiry);
    // Bounded storage: one replica at a time prunes what no longer serves (never approvals,
    // votes or the audit trail).
    started.push(
      startApprovalRetention({
        pool: options.pool,
        logger,
        retention: settings.retention,
        intervalMs: settings.retention.intervalMs,
        batchSize: settings.retention.batchSize,
      }),
    );
    const service = await startService(
      options.nc,
      {
        name: ServiceNames.approval,
        version: pkg.version,
        description: 'Countersign approvals: submit, decide, cancel, get, list, stats, report, keys',
        ...(settings.queue ? { queue: settings.queue } : {}),
        onError: (endpoint, error) => metrics.commandError('nats', endpoint, error.code),
      },
      approvalHandlers(deps),
      logger,
    );
    started.push({ stop: async () => void (await service.stop()) });
    const intake: Intake = await startIntake({
      js,
      jsm,
      deps,
      logger,
      batchSize: settings.intakeBatchSize,
      concurrency: settings.intakeConcurrency,
      ackWaitMs: settings.intakeAckWaitMs,
      maxAckPending: settings.intakeMaxAckPending,
      retryBaseMs: settings.intakeRetryBaseMs,
      retryMaxMs: settings.intakeRetryMaxMs,
      poisonAttempts: settings.intakePoisonAttempts,
      onError: metrics.intakeError,
    });
    started.push(intake);
  } catch (err) {
    await stopAll(started, logger);
    throw err;
  }

  return { deps, metrics, stop: memoStop(() => stopAll(started, logger)) };
}

/**
 * Stops in reverse start order: intake and endpoints first (no new work), then the relay (so
 * events of the last batches still go out) and the expiry loop. One failing stop does not
 * keep the others running.
 */
async function stopAll(started: readonly { stop(): Promise<void> }[], logger: Logger): Promise<void> {
  for (const part of [...started].reverse()) {
    try {
      await part.stop();
    } catch (err) {
      logger.warn({ err }, 'error while stopping');
    }
  }
}
