import { type Logger, pino } from 'pino';

export type { Logger };

/** Fields that may carry secrets; pino replaces them before anything is written. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'token',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  '*.smtp_url',
  '*.webhook_url',
  'headers.authorization',
  'req.headers.authorization',
  'config.*',
];

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Human-readable output for a terminal; JSON lines otherwise. Default false. */
  pretty?: boolean;
  /** Where to write; default stdout. Tests pass a stream to capture logs. */
  destination?: NodeJS.WritableStream;
}

/** JSON-lines logger with the service name bound and secrets redacted. */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level ?? 'info',
    base: { service: options.service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}

/** Masks the password of a URL (`nats://u:p@h`, `postgres://u:p@h/db`) for logging where it goes. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
