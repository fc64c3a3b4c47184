import { type Logger, memoStop } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type pg from 'pg';
import { startNotifierService } from './admin.js';
import type { DirectorySource } from './approvers.js';
import type { ChannelsConfig } from './channel-config.js';
import { buildChannels } from './channels/index.js';
import { allowsPlaintext, createSmtpSender } from './channels/smtp.js';
import type { NotifierConfig } from './config.js';
import { startEventConsumer } from './consumer.js';
import { type MarkdownWatcher, startMarkdownWatcher } from './markdown/watcher.js';
import { createNotifierMetrics, type MetricsServer, startMetricsServer } from './metrics.js';
import { startNotifierRetention } from './retention.js';
import { createReviewLinks } from './review-links.js';
import { createScrubber, urlSecrets } from './secret.js';
import { startDeliveryWorker } from './worker.js';

export interface NotifierDeps {
  nc: NatsConnection;
  pool: pg.Pool;
  logger: Logger;
  config: NotifierConfig;
  channels: ChannelsConfig;
  /** The directory of people (the scaffold's holder: reloaded without a restart). */
  directory: DirectorySource;
}

export interface Notifier {
  stop(): Promise<void>;
  /** Scans the markdown directories now (tests). */
  scanMarkdown(): Promise<void>;
}

/** Slack for a channel's own timeouts to fire before the worker's guard does. */
const DEADLINE_GUARD_MS = 5000;

/**
 * The notifier: consumes approval events into delivery records, runs the delivery worker, and
 * watches markdown directories. Handed its connections and a migrated schema (the scaffold
 * migrates before it starts the notifier); connects nothing.
 */
export async function startNotifier(deps: NotifierDeps): Promise<Notifier> {
  const { nc, pool, config } = deps;
  const env = config.env;
  const logger = deps.logger;

  const scrub = createScrubber([
    ...deps.channels.secrets,
    ...(env.SMTP_URL ? urlSecrets(env.SMTP_URL.reveal()) : []),
    ...(env.REVIEW_LINK_SECRET ? [env.REVIEW_LINK_SECRET.reveal()] : []),
    ...urlSecrets(env.DATABASE_URL.reveal()),
  ]);
  const reviewLinks =
    env.PUBLIC_URL && env.REVIEW_LINK_SECRET
      ? createReviewLinks(env.PUBLIC_URL, env.REVIEW_LINK_SECRET)
      : undefined;
  const { channels, markdownFolders } = buildChannels(deps.channels, {
    directory: deps.directory,
    pool,
    smtp: env.SMTP_URL ? createSmtpSender(env.SMTP_URL, env.SMTP_TIMEOUT) : undefined,
    reviewLinks,
    http: {
      timeoutMs: env.WEBHOOK_TIMEOUT,
      allowHttp: env.WEBHOOK_ALLOW_HTTP,
      allowPrivate: env.WEBHOOK_ALLOW_PRIVATE,
    },
  });
  if (env.SMTP_URL && allowsPlaintext(env.SMTP_URL.reveal())) {
    logger.warn('SMTP_URL has ?starttls=optional: mail and SMTP credentials may go in plaintext (dev only)');
  }
  for (const { folder } of markdownFolders) await folder.ensure();
  const watched = markdownFolders.filter(({ settings }) => settings.watch);
  const relayer = deps.directory.current().get(env.NOTIFIER_IDENTITY);
  if (watched.length > 0 && !(relayer?.kind === 'service' && relayer.relays_decisions)) {
    // Every decision in a folder would be refused by the approval service: say why up front.
    logger.warn(
      { notifier_identity: env.NOTIFIER_IDENTITY },
      'the directory has no service with relays_decisions for NOTIFIER_IDENTITY: markdown decisions will be refused',
    );
  }

  const worker = startDeliveryWorker({
    pool,
    channels: new Map(channels.map((c) => [c.name, c])),
    logger: logger.child({ component: 'delivery' }),
    retry: config.retry,
    leaseMs: config.leaseMs,
    attemptDeadlineMs: Math.max(env.WEBHOOK_TIMEOUT, env.SMTP_TIMEOUT) + DEADLINE_GUARD_MS,
    concurrency: env.NOTIFIER_CONCURRENCY,
    channelConcurrency: env.NOTIFIER_CHANNEL_CONCURRENCY,
    pollIntervalMs: env.NOTIFIER_POLL_INTERVAL,
    scrub,
  });

  let consumer: Awaited<ReturnType<typeof startEventConsumer>> | undefined;
  let admin: Awaited<ReturnType<typeof startNotifierService>> | undefined;
  const watchers: MarkdownWatcher[] = [];
  // Bounded storage: one replica at a time prunes finished deliveries and old events.
  const retention = startNotifierRetention({
    pool,
    logger,
    retention: config.retention,
    intervalMs: config.retention.intervalMs,
    batchSize: config.retention.batchSize,
  });
  let metricsServer: MetricsServer | undefined;
  try {
    if (config.metrics.port !== undefined) {
      metricsServer = await startMetricsServer({
        metrics: createNotifierMetrics({ pool, logger, cacheMs: config.metrics.cacheMs }),
        host: config.metrics.host,
        port: config.metrics.port,
        logger,
      });
    }
    consumer = await startEventConsumer({
      nc,
      pool,
      channels,
      logger: logger.child({ component: 'consumer' }),
      durableName: env.NOTIFIER_CONSUMER,
      concurrency: env.NOTIFIER_EVENT_CONCURRENCY,
      firstDelayMs: config.retry.schedule[0] ?? 0,
      onRecorded: worker.kick,
    });
    admin = await startNotifierService({
      nc,
      pool,
      channels,
      logger: logger.child({ component: 'admin' }),
      onRetried: worker.kick,
    });
    for (const { settings, folder } of watched) {
      watchers.push(
        startMarkdownWatcher({
          nc,
          pool,
          channel: settings.name,
          folder,
          directory: deps.directory,
          notifierIdentity: env.NOTIFIER_IDENTITY,
          logger: logger.child({ component: 'markdown-watcher' }),
          pollIntervalMs: env.MARKDOWN_POLL_INTERVAL,
        }),
      );
    }
  } catch (err) {
    await admin?.stop();
    await metricsServer?.stop();
    await retention.stop();
    await Promise.all(watchers.map((w) => w.stop()));
    await consumer?.stop();
    await worker.stop();
    throw err;
  }

  logger.info(
    {
      channels: channels.map((c) => ({ name: c.name, kind: c.kind, route: c.settings.route })),
      consumer: env.NOTIFIER_CONSUMER,
    },
    'notifier started',
  );

  return {
    scanMarkdown: async () => {
      await Promise.all(watchers.map((w) => w.scan()));
    },
    stop: memoStop(async () => {
      // Intake first (no new deliveries), then the attempts in flight finish and are recorded.
      await Promise.all(watchers.map((w) => w.stop()));
      await admin?.stop();
      await consumer?.stop();
      await worker.stop();
      await retention.stop();
      await metricsServer?.stop();
    }),
  };
}
