import { CommonEnv, env } from '@countersign/runtime';
import { z } from 'zod';

/** The approval service's environment. Every variable and its default is in .env.example. */
export const ApprovalEnv = CommonEnv.extend({
  /** Required: a default database would be a silent way to write approvals to the wrong place. */
  DATABASE_URL: z.string().min(1),
  /** Connections in the pool: intake batches, commands and the outbox relay share them. */
  DB_POOL_SIZE: env.int(10, 2, 200),
  /** Intake messages recorded per transaction. */
  INTAKE_BATCH_SIZE: env.int(100, 1, 1000),
  /** Intake batches in flight at once. */
  INTAKE_CONCURRENCY: env.int(4, 1, 64),
  /** Redelivery delay of an intake message a crashed replica never acked. */
  INTAKE_ACK_WAIT_MS: env.int(30_000, 1_000),
  INTAKE_MAX_ACK_PENDING: env.int(5_000, 1),
  /** Backoff of intake messages while the policy or the database is down: first delay and cap. */
  INTAKE_RETRY_BASE_MS: env.int(500, 10),
  INTAKE_RETRY_MAX_MS: env.int(30_000, 10),
  /** Deliveries after which a message that cannot be stored is dead-lettered to approval.invalid. */
  INTAKE_POISON_ATTEMPTS: env.int(5, 1),
  /** How long to wait for policy.evaluate / policy.authorize. */
  POLICY_TIMEOUT_MS: env.int(5_000, 100),
  /** How often overdue pending approvals are expired. */
  EXPIRY_INTERVAL_MS: env.int(2_000, 100),
  EXPIRY_BATCH_SIZE: env.int(500, 1, 10_000),
  /** Outbox poll interval, the fallback for a missed NOTIFY. */
  OUTBOX_POLL_MS: env.int(1_000, 10),
  OUTBOX_BATCH_SIZE: env.int(500, 1, 5_000),
  OUTBOX_PUBLISH_TIMEOUT_MS: env.int(5_000, 100),
});
export type ApprovalEnv = z.infer<typeof ApprovalEnv>;
