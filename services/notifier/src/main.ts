/**
 * The notifier process. The runtime's scaffold reads the configuration, migrates the schema,
 * opens the directory (DIRECTORY_FILE), connects and logs `{"msg":"ready"}`; this loads the
 * channels file and starts the notifier.
 * SIGTERM stops the intake and lets the attempts in flight finish, drains NATS, closes the pool.
 */
import { runService } from '@countersign/runtime';
import { loadChannelsFile } from './channel-config.js';
import { NotifierEnv } from './config.js';
import { notifierMigrations } from './migrations.js';
import { startNotifier } from './service.js';

await runService({
  name: 'notifier',
  connectionName: 'countersign-notifier',
  env: NotifierEnv,
  migrations: notifierMigrations,
  async start({ settings, nc, pool, logger, directory }) {
    const channels = loadChannelsFile(settings.env.NOTIFIER_CONFIG, process.env, {
      allowHttp: settings.env.WEBHOOK_ALLOW_HTTP,
    });
    const notifier = await startNotifier({ nc, pool, logger, config: settings, channels, directory });
    return { stop: [notifier] };
  },
});
