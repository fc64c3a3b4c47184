/**
 * What every route handler is given: the lifecycle deps and metrics of the running service, the
 * connection, the settings, and the request at hand. Routes are plain data (method, path
 * pattern, name, kind), matched by {@link matchRoute}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Directory, Logger } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { LifecycleDeps } from '../lifecycle/index.js';
import type { ApprovalMetrics } from '../metrics.js';
import type { Session, Sessions } from './auth.js';
import type { EventHub } from './events.js';
import type { OidcSettings, OidcSignIn } from './oidc.js';
import type { SignInLimiter } from './rate-limit.js';
import type { SlackDoorSettings } from './slack.js';
import type { TokenStore } from './tokens.js';

export interface HttpSettings {
  /** 0 = any free port. */
  port: number;
  host: string;
  /** Base URL people reach this server at; derived from host and port when absent. */
  publicUrl?: string | undefined;
  /** Secret review-link tokens are signed from (its derived `review-link` key; shared with the notifier); at least 32 characters. */
  reviewLinkSecret: string;
  /** HMAC key of dashboard sessions; derived from reviewLinkSecret when absent. */
  sessionSecret?: string | undefined;
  sessionTtlSeconds: number;
  bodyLimit: number;
  sseHeartbeatMs: number;
  /** Open event streams at most (each holds a connection and a buffer). */
  sseMaxClients: number;
  readyTimeoutMs: number;
  /** How long /readyz answers 503 on shutdown before the server closes. */
  drainMs: number;
  /** Batch size of the expiry sweep that `POST /api/v1/approvals/cleanup` runs. */
  expiryBatchSize: number;
  /** Dashboard single sign-on; token sign-in only when absent. Needs publicUrl. */
  oidc?: OidcSettings | undefined;
  /** Sign-in attempts (token POSTs, OpenID starts and callbacks) per minute and client address. */
  signInPerMinute: number;
  /** The Slack app's interactivity door (`POST /slack/interactions`); absent without SLACK_SIGNING_SECRET. */
  slack?: SlackDoorSettings | undefined;
}

export interface HttpApp {
  deps: LifecycleDeps;
  metrics: ApprovalMetrics;
  nc: NatsConnection;
  logger: Logger;
  settings: HttpSettings;
  tokens: TokenStore;
  /** The directory in force (it reloads): every identity must be in it when it acts. */
  directory: () => Directory;
  sessions: Sessions;
  /** Single sign-on, when configured. */
  oidc: OidcSignIn | undefined;
  signInLimiter: SignInLimiter;
  /** The request's dashboard session: a valid cookie whose session was not signed out. */
  session(req: IncomingMessage): Promise<Session | undefined>;
  events: EventHub;
  /** Origin of the public URL, for Origin checks. */
  publicOrigin: string | undefined;
  /** True once shutdown began: /readyz answers 503. */
  draining(): boolean;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST';
  /** `/api/v1/approvals/:action_id`: `:name` segments become params. */
  path: string;
  /** Metric label, and the command name in error counts. */
  name: string;
  /** How refusals are answered: JSON errors for the API, pages for people. */
  kind: 'api' | 'page';
  handle(ctx: RequestContext): Promise<void>;
}

export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

/** Finds the route for a method and path; HEAD is served by the GET route. */
export function matchRoute(routes: readonly Route[], method: string, pathname: string): RouteMatch {
  const segments = pathname.split('/');
  const allow = new Set<string>();
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (const [i, part] of pattern.entries()) {
      const segment = segments[i] as string;
      if (part.startsWith(':')) {
        let value: string;
        try {
          value = decodeURIComponent(segment);
        } catch {
          ok = false;
          break;
        }
        if (value === '') {
          ok = false;
          break;
        }
        params[part.slice(1)] = value;
      } else if (part !== segment) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
      return { kind: 'found', route, params };
    }
    allow.add(route.method);
    if (route.method === 'GET') allow.add('HEAD');
  }
  return allow.size > 0 ? { kind: 'method', allow: [...allow] } : { kind: 'none' };
}
