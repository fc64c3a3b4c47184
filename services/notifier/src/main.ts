import { connectNats, createLogger, memoStop, runMain } from '@countersign/runtime';
import pg from 'pg';
import { loadChannelsFile } from './channel-config.js';
import { loadNotifierConfig } from './config.js';
import { startNotifier } from './service.js';

// Configuration is read before the logger exists only for its level; a bad value is reported
// on stderr by name (never by value: values may be secrets).
const config = (() => {
  try {
    return loadNotifierConfig();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
})();
const env = config.env;
const logger = createLogger({ service: 'notifier', level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });

await runMain(
  logger,
  async () => {
    const channels = loadChannelsFile(env.NOTIFIER_CONFIG, process.env, {
      allowHttp: env.WEBHOOK_ALLOW_HTTP,
    });
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL.reveal(), max: 10 });
    // Without a listener, an idle client's error (database restart) crashes the process.
    pool.on('error', (err) =>
      logger.warn({ code: (err as { code?: string }).code }, 'idle database client error'),
    );
    const nc = await connectNats({
      url: env.NATS_URL,
      name: 'countersign-notifier',
      user: env.NATS_USER,
      pass: env.NATS_PASSWORD,
      logger,
    });
    try {
      const notifier = await startNotifier({ nc, pool, logger, config, channels });
      logger.info('ready');
      return {
        stop: memoStop(async () => {
          await notifier.stop();
          await nc.drain();
          await pool.end();
        }),
      };
    } catch (err) {
      await nc.close();
      await pool.end();
      throw err;
    }
  },
  env.SHUTDOWN_TIMEOUT_MS,
);
