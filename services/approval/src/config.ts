import { MAX_PAYLOAD_BYTES } from '@countersign/contracts';
import {
  CommonEnv,
  DatabaseEnv,
  databaseSettings,
  env,
  Keyring,
  RetentionEnv,
  runtimeSettings,
  Secret,
  SigningKeysError,
} from '@countersign/runtime';
import { z } from 'zod';
import { AuditKeys } from './audit-key.js';
import type { HttpSettings } from './http/app.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Secrets that sign links and sessions: long enough that guessing them is hopeless. */
const SigningSecret = z.string().min(32, 'must be at least 32 characters');

/**
 * The approval service's environment variables, with their defaults (the only place they are
 * written; .env.example and docs/operations.md repeat them). {@link ApprovalEnv} turns them into
 * the service's settings.
 */
export const ApprovalVariables = CommonEnv.extend({
  ...DatabaseEnv.shape,
  ...RetentionEnv.shape,
  /**
   * Replicas of APPROVAL_REQUESTS and APPROVAL_EVENTS, applied at every start (3 on a NATS
   * cluster, so losing a node loses nothing; at most the cluster's size).
   */
  NATS_STREAM_REPLICAS: env.int(1, 1, 5),

  // ---- Tamper evidence: the keyed audit chain and its signed heads (docs/security.md) ----
  /** Required: the secret the audit chain's HMAC key is derived from (at least 32 characters); `pnpm verify-audit` needs it too. */
  AUDIT_KEY: SigningSecret.transform((v) => new Secret(v)).optional(),
  /** Earlier AUDIT_KEY values, comma-separated: events they chained still verify; nothing new uses them. */
  AUDIT_KEYS_RETIRED: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => new Secret(s)),
    ),
  /** How often the head of every audit chain is signed and published to AUDIT_HEADS (besides after every change). */
  AUDIT_CHECKPOINT_INTERVAL: env.duration('10m', { min: 100 }),
  /** How long AUDIT_HEADS keeps signed heads; far longer than AUDIT_CHECKPOINT_INTERVAL. */
  AUDIT_HEADS_MAX_AGE: env.duration('90d', { min: 60_000 }),
  /** Intake messages recorded per transaction. */
  INTAKE_BATCH_SIZE: env.int(100, 1, 1000),
  /** Intake batches in flight at once. */
  INTAKE_CONCURRENCY: env.int(4, 1, 64),
  /** Redelivery delay of an intake message a crashed replica never acked. */
  INTAKE_ACK_WAIT: env.duration('30s', { min: 1_000 }),
  INTAKE_MAX_ACK_PENDING: env.int(5_000, 1),
  /** Backoff of intake messages while the policy or the database is down: first delay and cap. */
  INTAKE_RETRY_BASE: env.duration('500ms', { min: 10 }),
  INTAKE_RETRY_MAX: env.duration('30s', { min: 10 }),
  /** Deliveries after which a message that cannot be stored is dead-lettered to approval.invalid. */
  INTAKE_POISON_ATTEMPTS: env.int(5, 1),
  /** How long to wait for policy.evaluate / policy.authorize. */
  POLICY_TIMEOUT: env.duration('5s', { min: 100 }),
  /** How often overdue pending approvals are expired. */
  EXPIRY_INTERVAL: env.duration('2s', { min: 100 }),
  EXPIRY_BATCH_SIZE: env.int(500, 1, 10_000),
  /** Outbox poll interval, the fallback for a missed NOTIFY. */
  OUTBOX_POLL_INTERVAL: env.duration('1s', { min: 10 }),
  OUTBOX_BATCH_SIZE: env.int(500, 1, 5_000),
  OUTBOX_PUBLISH_TIMEOUT: env.duration('5s', { min: 100 }),

  // ---- Bounded storage (see retention.ts; approvals, votes and the audit trail are kept) ----
  /** How long a published outbox row is kept after publishing (the event itself is in APPROVAL_EVENTS); 0 keeps them. */
  RETENTION_OUTBOX: env.duration('7d'),
  /** How long a spent review-link nonce is kept past the link's expiry (an expired link is refused anyway); 0 keeps them. */
  RETENTION_REVIEW_TOKENS: env.duration('7d'),
  /** How long /metrics reuses the database gauges it read (approvals by status, backlog), so scrapes do not scan tables; 0 reads them on every scrape. */
  METRICS_CACHE: env.duration('15s', { max: 3_600_000 }),
  // ---- Signing keys: decision receipts (docs/security.md "Receipts"); one of the two is required ----
  /** Required unless SIGNING_KEYS is set: path of the Ed25519 JWK Set receipts are signed with (first private key signs, all are published); `pnpm keys generate` makes one. */
  SIGNING_KEYS_FILE: z.string().min(1).optional(),
  /** The same JWK Set inline (a secret; never logged), instead of SIGNING_KEYS_FILE. */
  SIGNING_KEYS: env.secret().optional(),

  // ---- HTTP: API, review links, dashboard, health and metrics (see README "HTTP") ----
  /** Port of the HTTP server; unset = no HTTP server (NATS only); 0 = any free port. */
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** Interface to listen on: loopback by default; set 0.0.0.0 in a container. */
  HTTP_HOST: env.string('127.0.0.1'),
  /** Base URL people reach the server at (review links, Origin checks); default http://HOST:PORT. */
  PUBLIC_URL: z.url().optional(),
  /** Secret review-link tokens are signed from (its own derived key), shared with the notifier that mints them. Required with HTTP. */
  REVIEW_LINK_SECRET: SigningSecret.optional(),
  /** `<token>:<identity>` or `sha256:<hex>:<identity>` entries, comma-separated. */
  API_TOKENS: env.apiTokens(),
  /** Secret dashboard sessions are signed from (its own derived keys); derived from REVIEW_LINK_SECRET, with its own label, when unset. */
  SESSION_SECRET: SigningSecret.optional(),
  /** How long a dashboard sign-in lasts. */
  SESSION_TTL: env.duration('8h', { min: 60_000, max: 30 * 86_400_000 }),
  /** Largest request body accepted; larger is refused with payload_too_large. */
  HTTP_BODY_LIMIT: env.int(MAX_PAYLOAD_BYTES, 1024, MAX_PAYLOAD_BYTES),
  /** Comment lines sent on idle event streams, so proxies keep them open. */
  HTTP_SSE_HEARTBEAT: env.duration('15s', { min: 100 }),
  /** Open event streams per process at most (each holds a connection and up to 1 MiB unsent); one more is refused with 503. */
  HTTP_SSE_MAX_CLIENTS: env.int(1000, 1, 100_000),
  /** How long /readyz waits for Postgres, NATS and the policy service. */
  HTTP_READY_TIMEOUT: env.duration('2s', { min: 50 }),
  /** On shutdown, /readyz answers 503 this long before the server closes (load balancers notice). */
  HTTP_DRAIN: env.duration('0s', { max: 60_000 }),
  /** Sign-in attempts (token sign-ins, single sign-on starts and callbacks) per minute and client address. */
  SIGNIN_RATE_LIMIT: env.int(10, 1, 10_000),

  // ---- Dashboard single sign-on with OpenID Connect (all three, and PUBLIC_URL, or none) ----
  /** The provider's issuer URL (https; http only on loopback, for development). */
  OIDC_ISSUER: z
    .url()
    .refine((text) => {
      const url = new URL(text);
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
    }, 'must be an https URL (http only for a provider on loopback)')
    .optional(),
  /** The client id registered with the provider (redirect URI: PUBLIC_URL + /auth/oidc/callback). */
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  /** The client secret registered with the provider; never logged. */
  OIDC_CLIENT_SECRET: z
    .string()
    .min(1)
    .transform((v) => new Secret(v))
    .optional(),
  /** Scopes asked for; `openid` is required, `email` lets the directory match a verified email. */
  OIDC_SCOPES: env
    .string('openid email profile')
    .refine((s) => s.split(/\s+/).includes('openid'), 'must include openid'),

  // ---- The Slack app's interactivity door, POST /slack/interactions (needs HTTP_PORT) ----
  /** The Slack app's signing secret; unset = no Slack door. Never logged. */
  SLACK_SIGNING_SECRET: z
    .string()
    .min(16, 'must be the Slack app signing secret')
    .transform((v) => new Secret(v))
    .optional(),
  /** Answers to clicks are posted only to response URLs starting with this. */
  SLACK_RESPONSE_URL_PREFIX: env.string('https://hooks.slack.com/'),
  /** How long one answer to a response URL may take. */
  SLACK_RESPONSE_TIMEOUT: env.duration('5s', { min: 100, max: 60_000 }),
}).superRefine((config, ctx) => {
  const oidc = ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const;
  const set = oidc.filter((k) => config[k] !== undefined);
  if (set.length > 0) {
    for (const k of oidc) {
      if (config[k] === undefined)
        ctx.addIssue({ code: 'custom', path: [k], message: `required with ${set.join(', ')}` });
    }
    if (config.PUBLIC_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['PUBLIC_URL'],
        message:
          'required with OIDC_ISSUER (the redirect URI <PUBLIC_URL>/auth/oidc/callback is built from it)',
      });
    }
  }
  if (config.AUDIT_KEY === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['AUDIT_KEY'],
      message: 'required: the secret the audit chain is keyed with (at least 32 characters)',
    });
  }
  // Security by default: a service that could not sign would hand out decisions nobody can check.
  if (config.SIGNING_KEYS_FILE === undefined && config.SIGNING_KEYS === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['SIGNING_KEYS_FILE'],
      message:
        'required (or SIGNING_KEYS): the Ed25519 key set decision receipts are signed with; `pnpm keys generate` makes one',
    });
  }
  if (config.SIGNING_KEYS_FILE !== undefined && config.SIGNING_KEYS !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['SIGNING_KEYS'],
      message: 'set SIGNING_KEYS_FILE or SIGNING_KEYS, not both',
    });
  }
  if (config.SLACK_SIGNING_SECRET !== undefined && config.HTTP_PORT === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['SLACK_SIGNING_SECRET'],
      message: 'needs HTTP_PORT (Slack posts clicks to POST /slack/interactions)',
    });
  }
  if (config.HTTP_PORT !== undefined && config.REVIEW_LINK_SECRET === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['REVIEW_LINK_SECRET'],
      message: 'required when HTTP_PORT is set (at least 32 characters)',
    });
  }
});

/**
 * The approval service's settings, parsed from its environment: what the scaffold needs
 * (NATS, logging, shutdown, the database), the service's tuning, and the HTTP server's settings
 * when HTTP_PORT is set. Tests get the defaults from here too: `ApprovalEnv.parse({ DATABASE_URL })`.
 */
export const ApprovalEnv = ApprovalVariables.transform((v, ctx) => ({
  runtime: runtimeSettings(v),
  signingKeys: loadSigningKeys(v, ctx),
  database: databaseSettings(v),
  streamReplicas: v.NATS_STREAM_REPLICAS,
  service: {
    intakeBatchSize: v.INTAKE_BATCH_SIZE,
    intakeConcurrency: v.INTAKE_CONCURRENCY,
    intakeAckWaitMs: v.INTAKE_ACK_WAIT,
    intakeMaxAckPending: v.INTAKE_MAX_ACK_PENDING,
    intakeRetryBaseMs: v.INTAKE_RETRY_BASE,
    intakeRetryMaxMs: v.INTAKE_RETRY_MAX,
    intakePoisonAttempts: v.INTAKE_POISON_ATTEMPTS,
    policyTimeoutMs: v.POLICY_TIMEOUT,
    expiryIntervalMs: v.EXPIRY_INTERVAL,
    expiryBatchSize: v.EXPIRY_BATCH_SIZE,
    outboxPollMs: v.OUTBOX_POLL_INTERVAL,
    outboxBatchSize: v.OUTBOX_BATCH_SIZE,
    outboxPublishTimeoutMs: v.OUTBOX_PUBLISH_TIMEOUT,
    metricsCacheMs: v.METRICS_CACHE,
    retention: {
      intervalMs: v.RETENTION_INTERVAL,
      batchSize: v.RETENTION_BATCH_SIZE,
      outboxMs: v.RETENTION_OUTBOX || null,
      reviewTokensMs: v.RETENTION_REVIEW_TOKENS || null,
    },
    /** Who the receipts say signed them (`iss`): where this service is reached, else its name. */
    receiptIssuer: v.PUBLIC_URL ?? 'countersign',
    audit: {
      // The refinement makes AUDIT_KEY present.
      keys: AuditKeys.from(v.AUDIT_KEY as Secret, v.AUDIT_KEYS_RETIRED),
      checkpointIntervalMs: v.AUDIT_CHECKPOINT_INTERVAL,
      headsMaxAgeSeconds: Math.round(v.AUDIT_HEADS_MAX_AGE / 1000),
    },
  },
  http: httpSettings(v),
  apiTokens: v.API_TOKENS,
}));
export type ApprovalConfig = z.output<typeof ApprovalEnv>;

/**
 * The keyring, read here so that an unreadable or invalid key set is a configuration error
 * naming its variable (never the key), reported before the service connects to anything.
 */
function loadSigningKeys(v: z.output<typeof ApprovalVariables>, ctx: z.RefinementCtx): Keyring {
  try {
    return Keyring.load({ inline: v.SIGNING_KEYS?.reveal(), file: v.SIGNING_KEYS_FILE });
  } catch (err) {
    if (!(err instanceof SigningKeysError)) throw err;
    const variable = v.SIGNING_KEYS ? 'SIGNING_KEYS' : 'SIGNING_KEYS_FILE';
    ctx.addIssue({ code: 'custom', path: [variable], message: err.message });
    return z.NEVER;
  }
}

/** The HTTP server's settings, or undefined when HTTP_PORT is unset (NATS only). */
function httpSettings(v: z.output<typeof ApprovalVariables>): HttpSettings | undefined {
  // The refinement above makes REVIEW_LINK_SECRET present whenever HTTP_PORT is.
  if (v.HTTP_PORT === undefined || v.REVIEW_LINK_SECRET === undefined) return undefined;
  return {
    port: v.HTTP_PORT,
    host: v.HTTP_HOST,
    publicUrl: v.PUBLIC_URL,
    reviewLinkSecret: v.REVIEW_LINK_SECRET,
    sessionSecret: v.SESSION_SECRET,
    sessionTtlSeconds: Math.round(v.SESSION_TTL / 1000),
    bodyLimit: v.HTTP_BODY_LIMIT,
    sseHeartbeatMs: v.HTTP_SSE_HEARTBEAT,
    sseMaxClients: v.HTTP_SSE_MAX_CLIENTS,
    readyTimeoutMs: v.HTTP_READY_TIMEOUT,
    drainMs: v.HTTP_DRAIN,
    expiryBatchSize: v.EXPIRY_BATCH_SIZE,
    signInPerMinute: v.SIGNIN_RATE_LIMIT,
    slack: v.SLACK_SIGNING_SECRET
      ? {
          signingSecret: v.SLACK_SIGNING_SECRET,
          responseUrlPrefix: v.SLACK_RESPONSE_URL_PREFIX,
          responseTimeoutMs: v.SLACK_RESPONSE_TIMEOUT,
        }
      : undefined,
    oidc:
      v.OIDC_ISSUER && v.OIDC_CLIENT_ID && v.OIDC_CLIENT_SECRET
        ? {
            issuer: v.OIDC_ISSUER,
            clientId: v.OIDC_CLIENT_ID,
            clientSecret: v.OIDC_CLIENT_SECRET,
            scopes: v.OIDC_SCOPES,
          }
        : undefined,
  };
}
