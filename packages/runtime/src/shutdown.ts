import type { Logger } from './logger.js';
import { SchemaVersionError } from './schema-version.js';
import { StartupError } from './startup.js';

export interface Stoppable {
  /** Idempotent; resolves once everything is released. */
  stop(): Promise<void>;
}

/** Memoises an async stop so concurrent and repeated calls share one run. */
export function memoStop(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= fn();
    return running;
  };
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

/**
 * On SIGTERM/SIGINT: stop gracefully within `timeoutMs`, then exit 128 + signal number.
 * A second signal, or the timeout, forces the exit so a stuck drain cannot hang a deploy.
 */
export function handleSignals(target: Stoppable, logger: Logger, timeoutMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = 128 + (SIGNAL_NUMBERS[signal] ?? 0);
    if (stopping) {
      logger.warn({ signal }, 'second signal: forcing exit');
      process.exit(code);
    }
    stopping = true;
    logger.info({ signal, timeout_ms: timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'graceful shutdown timed out: forcing exit');
      process.exit(code);
    }, timeoutMs);
    timer.unref();
    target.stop().then(
      () => {
        logger.info('stopped');
        process.exit(code);
      },
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(code);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Runs a service's main: start, log fatal startup errors and exit 1, handle signals. */
export async function runMain(
  logger: Logger,
  start: () => Promise<Stoppable>,
  timeoutMs: number,
): Promise<void> {
  try {
    const running = await start();
    handleSignals(running, logger, timeoutMs);
  } catch (err) {
    // A refusal someone must act on is the line's message itself, with its facts as fields.
    if (err instanceof SchemaVersionError || err instanceof StartupError)
      logger.fatal(err.fields, err.message);
    else logger.fatal({ err }, 'failed to start');
    // Let pino flush before leaving.
    setTimeout(() => process.exit(1), 50);
  }
}
