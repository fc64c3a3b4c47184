/**
 * One line per HTTP request at `debug` level (LOG_LEVEL=debug turns the access log on): method,
 * route, status, duration and the path with its query. Review links carry their token in the
 * query (`?token=`) and the sign-in callback its authorization `code` and `state`: those values
 * are credentials, so they are replaced before the line is built. Headers are never logged
 * (`Authorization`, cookies).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@countersign/runtime';

/** Query parameters whose values are credentials or one-time secrets. */
const SECRET_PARAM = /token|secret|password|passwd|code|state|key|sig|auth|session|nonce|verifier/i;

/** The request target with the values of credential-bearing query parameters redacted. */
export function redactedTarget(target: string): string {
  const url = new URL(target, 'http://localhost');
  if (!url.search) return url.pathname;
  const query = [...url.searchParams]
    .map(
      ([key, value]) =>
        `${encodeURIComponent(key)}=${SECRET_PARAM.test(key) ? '[redacted]' : encodeURIComponent(value)}`,
    )
    .join('&');
  return `${url.pathname}?${query}`;
}

/** Logs the request once its response has finished; `route` is read then (it is known late). */
export function logAccess(
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  route: () => string,
): void {
  if (!logger.isLevelEnabled('debug')) return;
  const started = performance.now();
  res.once('finish', () => {
    let path: string;
    try {
      path = redactedTarget(req.url ?? '/');
    } catch {
      path = '[unparseable]';
    }
    logger.debug(
      {
        method: req.method,
        path,
        route: route(),
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
      },
      'http request',
    );
  });
}
