import { canonicalIdentity } from '@countersign/contracts';
import {
  CommonEnv,
  DatabaseEnv,
  databaseSettings,
  env,
  parseDurationList,
  RetentionEnv,
  runtimeSettings,
  Secret,
} from '@countersign/runtime';
import { z } from 'zod';
import type { RetryPolicy } from './backoff.js';

/** Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_SCHEDULE = '0,5s,5m,30m,2h,5h,10h,10h';

/**
 * The notifier's environment variables, with their defaults. Secret values are wrapped in
 * {@link Secret}, so the parsed config can be passed around (and even logged by mistake) without
 * leaking them.
 */
export const NotifierVariables = CommonEnv.extend({
  ...DatabaseEnv.shape,
  ...RetentionEnv.shape,
  /** Path of the channels file (YAML or JSON), see channels.example.yaml. */
  NOTIFIER_CONFIG: z.string().min(1),
  /** `smtp://user:pass@host:587` (STARTTLS required; `?starttls=optional` allows plaintext, dev only) or `smtps://...:465`; needed when an email channel is configured. */
  SMTP_URL: z
    .string()
    .min(1)
    .transform((v) => new Secret(v))
    .optional(),
  /** Base URL of the approval service's review pages; needed for review links. */
  PUBLIC_URL: z.url().optional(),
  /** The approval service's review link secret (the same value on both). */
  REVIEW_LINK_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters')
    .transform((v) => new Secret(v))
    .optional(),
  /** Allow http:// webhook and Slack URLs (tests, local receivers). */
  WEBHOOK_ALLOW_HTTP: env.bool(false),
  /** Allow webhook URLs that resolve to private, loopback or link-local addresses. */
  WEBHOOK_ALLOW_PRIVATE: env.bool(false),
  /** Identity markdown decisions are relayed as: a directory service with `relays_decisions: true`. */
  NOTIFIER_IDENTITY: z
    .string()
    .default('notifier')
    .transform((value, ctx) => {
      const result = canonicalIdentity(value);
      if (result.ok && result.identity === value) return value;
      ctx.addIssue({
        code: 'custom',
        message: result.ok ? `must be written canonically: "${result.identity}"` : result.message,
      });
      return z.NEVER;
    }),
  /** Durable JetStream consumer name. */
  NOTIFIER_CONSUMER: env.string('notifier'),
  /** Delivery attempts in flight in this replica. */
  NOTIFIER_CONCURRENCY: env.int(16, 1, 1000),
  /** Delivery attempts in flight per channel in this replica, so one slow channel cannot take every slot. */
  NOTIFIER_CHANNEL_CONCURRENCY: env.int(4, 1, 1000),
  /** Event batches recorded at once by the consumer (each one short transaction of up to 100 events). */
  NOTIFIER_EVENT_CONCURRENCY: env.int(8, 1, 256),
  /** How often the worker looks for due retries scheduled by any replica. */
  NOTIFIER_POLL_INTERVAL: env.duration('1s'),
  /** Delay before each attempt; the number of entries is the number of attempts. */
  NOTIFIER_RETRY_SCHEDULE: z
    .string()
    .default(DEFAULT_RETRY_SCHEDULE)
    .transform((value, ctx) => {
      try {
        const list = parseDurationList(value);
        if (list.length === 0) throw new Error('needs at least one entry');
        return list;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  NOTIFIER_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  NOTIFIER_MAX_RETRY_AFTER: env.duration('6h'),
  /** Per-attempt timeout of a webhook or Slack POST. */
  WEBHOOK_TIMEOUT: env.duration('10s'),
  /** Per-attempt timeout of an SMTP session. */
  SMTP_TIMEOUT: env.duration('30s'),
  /**
   * How long a claimed attempt is owned before it counts as interrupted (its process died).
   * Must exceed every attempt timeout; default: the longest timeout plus 30 s.
   */
  NOTIFIER_LEASE: env.duration('0'),
  /** How often markdown directories are rescanned for edits (file watching is a hint only). */
  MARKDOWN_POLL_INTERVAL: env.duration('1s'),

  // ---- Metrics and bounded storage ----
  /** Port of the notifier's metrics server (`/metrics`, `/healthz`); unset = none; 0 = any free port. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Interface the metrics server listens on: loopback by default; set 0.0.0.0 in a container. */
  METRICS_HOST: env.string('127.0.0.1'),
  /** How long /metrics reuses the database gauges it read, so scrapes do not query each time; 0 reads them on every scrape. */
  METRICS_CACHE: env.duration('15s', { max: 3_600_000 }),
  /** How long a delivered delivery (and its attempts) is kept after it was delivered; 0 keeps them. */
  RETENTION_DELIVERIES: env.duration('30d'),
  /** How long a dead letter (a dead or superseded delivery) and an invalid-event record are kept; 0 keeps them. */
  RETENTION_DEAD_LETTERS: env.duration('90d'),
  /**
   * How long an event is kept once no delivery refers to it; 0 keeps them. At least 31 days, longer
   * than APPROVAL_EVENTS keeps its events: a replayed event the notifier no longer knows would
   * be notified again.
   */
  RETENTION_EVENTS: env
    .duration('60d')
    .refine(
      (ms) => ms === 0 || ms >= 31 * 86_400_000,
      'must be 0 or at least 31d (longer than APPROVAL_EVENTS keeps events, so a replay is not notified twice)',
    ),
});
export type NotifierVariables = z.output<typeof NotifierVariables>;

/** The default lease: the longest attempt timeout plus this. */
const LEASE_MARGIN_MS = 30_000;

/**
 * The notifier's settings, parsed from its environment: what the scaffold needs, the parsed
 * variables (`env`), and the values derived from them once (the retry policy, the lease). Tests
 * get the defaults from here too: `NotifierEnv.parse({ DATABASE_URL, NOTIFIER_CONFIG })`.
 */
export const NotifierEnv = NotifierVariables.superRefine((v, ctx) => {
  const longest = Math.max(v.WEBHOOK_TIMEOUT, v.SMTP_TIMEOUT);
  if (v.NOTIFIER_LEASE !== 0 && v.NOTIFIER_LEASE <= longest) {
    ctx.addIssue({
      code: 'custom',
      path: ['NOTIFIER_LEASE'],
      message: `must exceed the longest attempt timeout (${longest} ms): a live attempt would be taken for a dead one`,
    });
  }
}).transform((v) => ({
  runtime: runtimeSettings(v),
  database: databaseSettings(v),
  env: v,
  retry: {
    schedule: v.NOTIFIER_RETRY_SCHEDULE,
    jitter: v.NOTIFIER_RETRY_JITTER,
    maxRetryAfterMs: v.NOTIFIER_MAX_RETRY_AFTER,
  } satisfies RetryPolicy,
  leaseMs: v.NOTIFIER_LEASE || Math.max(v.WEBHOOK_TIMEOUT, v.SMTP_TIMEOUT) + LEASE_MARGIN_MS,
  metrics: { port: v.METRICS_PORT, host: v.METRICS_HOST, cacheMs: v.METRICS_CACHE },
  retention: {
    intervalMs: v.RETENTION_INTERVAL,
    batchSize: v.RETENTION_BATCH_SIZE,
    deliveriesMs: v.RETENTION_DELIVERIES || null,
    deadLettersMs: v.RETENTION_DEAD_LETTERS || null,
    eventsMs: v.RETENTION_EVENTS || null,
  },
}));
export type NotifierConfig = z.output<typeof NotifierEnv>;
