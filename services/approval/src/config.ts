import { MAX_PAYLOAD_BYTES } from '@countersign/contracts';
import { CommonEnv, env } from '@countersign/runtime';
import { z } from 'zod';
import { parseApiTokens } from './http/tokens.js';

/** Secrets that sign links and sessions: long enough that guessing them is hopeless. */
const SigningSecret = z.string().min(32, 'must be at least 32 characters');

/** The approval service's environment. Every variable and its default is in .env.example. */
export const ApprovalEnv = CommonEnv.extend({
  /** Required: a default database would be a silent way to write approvals to the wrong place. */
  DATABASE_URL: z.string().min(1),
  /**
   * Replicas of APPROVAL_REQUESTS and APPROVAL_EVENTS, applied at every start (3 on a NATS
   * cluster, so losing a node loses nothing; at most the cluster's size).
   */
  NATS_STREAM_REPLICAS: env.int(1, 1, 5),
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

  // ---- HTTP: API, review links, dashboard, health and metrics (see README "HTTP") ----
  /** Port of the HTTP server; unset = no HTTP server (NATS only); 0 = any free port. */
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Interface to listen on: loopback by default; set 0.0.0.0 in a container. */
  HTTP_HOST: env.string('127.0.0.1'),
  /** Base URL people reach the server at (review links, Origin checks); default http://HOST:PORT. */
  PUBLIC_URL: z.url().optional(),
  /** HMAC key of review-link tokens, shared with the notifier that mints them. Required with HTTP. */
  REVIEW_LINK_SECRET: SigningSecret.optional(),
  /** `<token>:<identity>` or `sha256:<hex>:<identity>` entries, comma-separated. */
  API_TOKENS: z
    .string()
    .default('')
    .transform((text, ctx) => {
      try {
        return parseApiTokens(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** HMAC key of dashboard sessions; derived from REVIEW_LINK_SECRET when unset. */
  SESSION_SECRET: SigningSecret.optional(),
  /** How long a dashboard sign-in lasts. */
  SESSION_TTL_SECONDS: env.int(8 * 3600, 60, 30 * 86_400),
  /** Largest request body accepted; larger is refused with payload_too_large. */
  HTTP_BODY_LIMIT: env.int(MAX_PAYLOAD_BYTES, 1024, MAX_PAYLOAD_BYTES),
  /** Comment lines sent on idle event streams, so proxies keep them open. */
  HTTP_SSE_HEARTBEAT_MS: env.int(15_000, 100),
  /** How long /readyz waits for Postgres, NATS and the policy service. */
  HTTP_READY_TIMEOUT_MS: env.int(2_000, 50),
  /** On shutdown, /readyz answers 503 this long before the server closes (load balancers notice). */
  HTTP_DRAIN_MS: env.int(0, 0, 60_000),
}).superRefine((config, ctx) => {
  if (config.HTTP_PORT !== undefined && config.REVIEW_LINK_SECRET === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['REVIEW_LINK_SECRET'],
      message: 'required when HTTP_PORT is set (at least 32 characters)',
    });
  }
});
export type ApprovalEnv = z.infer<typeof ApprovalEnv>;
