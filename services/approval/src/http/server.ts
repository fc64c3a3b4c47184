/**
 * The approval service's HTTP server (node:http): the JSON API, review links, the dashboard,
 * health and metrics, on top of a running approval service's lifecycle deps and metrics. Every
 * failure becomes a structured answer: JSON `{error: {code, message, details}}` for the API, a
 * page for people. A handler never crashes the server.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CountersignError } from '@countersign/contracts';
import {
  coerceError,
  contextFromCarrier,
  type Logger,
  memoStop,
  SpanKind,
  tracingEnabled,
  withSpan,
} from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ApprovalService } from '../service.js';
import { logAccess } from './access-log.js';
import { apiRoutes } from './api.js';
import { type HttpApp, type HttpSettings, matchRoute, type Route } from './app.js';
import { assetRoutes } from './assets.js';
import { type CredentialCheck, Sessions, sessionSecretOf } from './auth.js';
import { dashboardRoutes, errorPage } from './dashboard.js';
import { startEventHub } from './events.js';
import { healthRoutes } from './health.js';
import { HttpRefusal, sendErrorJson, sendHtml, setSecurityHeaders } from './io.js';
import { keysRoutes } from './keys.js';
import { isOidcFingerprint, type OidcSignIn, startOidc } from './oidc.js';
import { SignInLimiter } from './rate-limit.js';
import { reviewRoutes } from './review.js';
import { isSignedOut } from './sign-outs.js';
import { slackDoor } from './slack.js';
import { ssoRoutes } from './sso.js';
import { type ApiToken, TokenStore } from './tokens.js';

export type { HttpSettings } from './app.js';

export interface HttpServerOptions {
  /** The running service: its deps carry the database, the policy client and the directory. */
  service: Pick<ApprovalService, 'deps' | 'metrics'>;
  nc: NatsConnection;
  logger: Logger;
  settings: HttpSettings;
  tokens: readonly ApiToken[];
}

export interface HttpServer {
  /** Where it listens, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** The base URL links use (PUBLIC_URL, or `url`). */
  publicUrl: string;
  /**
   * Drains: /readyz answers 503 for `drainMs`, then event streams end and the server closes
   * (requests in flight finish; idle keep-alive connections are closed). Idempotent.
   */
  stop(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { settings } = options;
  const logger = options.logger.child({ component: 'http' });
  const tokens = new TokenStore(options.tokens);
  if (tokens.size === 0) logger.warn('API_TOKENS is empty: the API and the dashboard accept no one');
  let draining = false;
  const events = startEventHub({
    nc: options.nc,
    logger,
    metrics: options.service.metrics,
    heartbeatMs: settings.sseHeartbeatMs,
    maxClients: settings.sseMaxClients,
  });
  const sessionSecret = sessionSecretOf(settings.reviewLinkSecret, settings.sessionSecret);
  const publicOrigin = settings.publicUrl ? new URL(settings.publicUrl).origin : undefined;
  const secure = publicOrigin?.startsWith('https:') ?? false;
  const directory = options.service.deps.directory;
  // Discovery before listening: an unreachable or wrong issuer stops the start, with its name.
  let oidc: OidcSignIn | undefined;
  if (settings.oidc) {
    if (!settings.publicUrl)
      throw new Error('OIDC_ISSUER needs PUBLIC_URL (the redirect URI is built from it)');
    oidc = await startOidc({
      settings: settings.oidc,
      publicUrl: settings.publicUrl,
      secret: sessionSecret,
      secure,
    });
    logger.info(
      { issuer: oidc.issuer, client_id: settings.oidc.clientId, redirect_uri: oidc.redirectUri },
      'dashboard single sign-on enabled',
    );
  }
  const credentialStands: CredentialCheck = (identity, fingerprint) => {
    const current = directory();
    if (isOidcFingerprint(fingerprint)) return oidc?.stands(current, identity, fingerprint) ?? false;
    return tokens.identityOf(fingerprint) === identity && current.get(identity) !== undefined;
  };
  const sessions = new Sessions(sessionSecret, credentialStands, settings.sessionTtlSeconds, secure);
  const app: HttpApp = {
    deps: options.service.deps,
    metrics: options.service.metrics,
    nc: options.nc,
    logger,
    settings,
    tokens,
    directory,
    sessions,
    oidc,
    signInLimiter: new SignInLimiter({ perMinute: settings.signInPerMinute }),
    session: async (req) => {
      const session = sessions.read(req);
      if (!session || (await isSignedOut(options.service.deps.pool, session.id))) return undefined;
      return session;
    },
    events,
    publicOrigin,
    draining: () => draining,
  };
  const slack = settings.slack ? slackDoor(app, settings.slack) : undefined;
  const routes: Route[] = [
    ...healthRoutes(app),
    ...keysRoutes(app),
    ...apiRoutes(app),
    ...reviewRoutes(app),
    ...dashboardRoutes(app),
    ...(oidc ? ssoRoutes(app, oidc) : []),
    ...(slack?.routes ?? []),
    ...assetRoutes(),
  ];

  const server = createServer((req, res) => {
    void dispatch(app, routes, req, res);
  });
  // Slow or stalled clients must not hold connections forever (SSE streams are answered, so
  // the request timeout does not cut them).
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    port: address.port,
    publicUrl: settings.publicUrl ?? url,
    stop: memoStop(async () => {
      draining = true;
      if (settings.drainMs > 0) await new Promise((r) => setTimeout(r, settings.drainMs));
      events.stop();
      // Clicks Slack was told were received are decided before the pool and NATS close.
      await slack?.settled();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests still running after a grace period are cut: shutdown has its own deadline.
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      force.unref();
      await closed;
      clearTimeout(force);
    }),
  };
}

async function dispatch(app: HttpApp, routes: readonly Route[], req: IncomingMessage, res: ServerResponse) {
  setSecurityHeaders(res);
  const method = req.method ?? 'GET';
  let routeName = 'unmatched';
  res.on('finish', () => app.metrics.httpRequest(routeName, method, res.statusCode));
  logAccess(app.logger, req, res, () => routeName);
  let kind: Route['kind'] = 'api';
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    kind = url.pathname.startsWith('/api/') ? 'api' : 'page';
    const match = matchRoute(routes, method, url.pathname);
    if (match.kind === 'none') throw new CountersignError('not_found', `no such resource: ${url.pathname}`);
    if (match.kind === 'method') {
      throw new HttpRefusal(405, 'invalid_request', `method ${method} is not allowed here`, undefined, {
        Allow: match.allow.join(', '),
      });
    }
    routeName = match.route.name;
    kind = match.route.kind;
    const { route, params } = match;
    const parent = contextFromCarrier(req.headers);
    // Like NATS endpoints: a span in the caller's trace (`traceparent`), or of its own for a
    // POST (someone acts: a decision from the dashboard or the API); untraced reads make none.
    // Named by the route's template, never the path: review links carry tokens.
    if (parent !== undefined || (method === 'POST' && tracingEnabled())) {
      await withSpan(
        `${method} ${route.path}`,
        {
          kind: SpanKind.SERVER,
          ...(parent ? { parent } : {}),
          attributes: { 'http.request.method': method, 'http.route': route.path },
        },
        () => route.handle({ req, res, url, params }),
      );
    } else await route.handle({ req, res, url, params });
  } catch (err) {
    const error = err instanceof CountersignError ? err : coerceError(err);
    if (error.code === 'internal')
      app.logger.error({ err: error.cause ?? err, route: routeName }, 'request failed');
    if (routeName !== 'unmatched') app.metrics.commandError('http', routeName, error.code);
    if (res.headersSent) {
      // A stream that already started cannot carry an error: end it.
      res.destroy();
      return;
    }
    try {
      if (kind === 'api') sendErrorJson(res, error);
      else {
        if (error instanceof HttpRefusal)
          for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v);
        sendHtml(res, error.status, errorPage(error));
      }
    } catch (sendErr) {
      app.logger.warn({ err: sendErr }, 'could not send an error response');
      res.destroy();
    }
  }
}
