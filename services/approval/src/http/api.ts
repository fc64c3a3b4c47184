/**
 * The JSON API: each route translates a request into the same lifecycle and query calls the NATS
 * commands make (see ../endpoints.ts), validated with the same contract schemas, and answers the
 * same records and error codes. The one difference: who acts is the bearer token's identity.
 * Actor fields (`requested_by`, `decided_by`, `cancelled_by`, `reported_by`, `delegator`,
 * `revoked_by`) may be left out, and
 * when sent they must name that identity, so the same JSON body works on both transports and no
 * body can choose who acts. `POST /api/v1/policy/evaluate` answers what `policy.evaluate` would
 * for a request (nothing is stored).
 */
import {
  type ActorField,
  ApprovalRequest,
  CancelRequest,
  CountersignError,
  canonicalIdentity,
  DecideRequest,
  DelegateRequest,
  EvaluateRequest,
  GetRequest,
  ListDelegationsRequest,
  ListRequest,
  parseWith,
  ReportRequest,
  UndelegateRequest,
} from '@countersign/contracts';
import {
  actorMismatch,
  cancel,
  decide,
  delegate,
  expireAllDue,
  listDelegations,
  report,
  submit,
  undelegate,
} from '../lifecycle/index.js';
import { approvalStats, getApproval, listApprovals } from '../queries.js';
import type { HttpApp, RequestContext, Route } from './app.js';
import { bearerIdentity } from './auth.js';
import { exportFormat, streamExport } from './export.js';
import { readJsonObject, sendJson } from './io.js';

/**
 * The body with its actor field set to `identity`; refuses a body naming someone else. Names are
 * compared canonically ("Frank " is frank), and a name that cannot be canonical (a zero-width or
 * bidi character in it) is refused as invalid, naming the field, before it can be compared.
 */
export function actingAs(
  body: Record<string, unknown>,
  field: ActorField,
  identity: string,
): Record<string, unknown> {
  const named = body[field];
  if (named === undefined) return { ...body, [field]: identity };
  if (typeof named !== 'string') {
    throw new CountersignError('invalid_request', `invalid request: ${field} must be a string`, {
      fields: [{ path: field, message: 'expected a string' }],
    });
  }
  const canonical = canonicalIdentity(named);
  if (!canonical.ok) {
    throw new CountersignError('invalid_request', `invalid request: ${field} ${canonical.message}`, {
      fields: [{ path: field, message: canonical.message }],
    });
  }
  if (canonical.identity !== identity) throw actorMismatch(field, identity, canonical.identity);
  return { ...body, [field]: identity };
}

/** Puts the path's action_id into the body; a body naming another one is a contradiction. */
function withPathId(body: Record<string, unknown>, actionId: string): Record<string, unknown> {
  if (body.action_id !== undefined && body.action_id !== actionId) {
    throw new CountersignError(
      'invalid_request',
      'invalid request: action_id in the body differs from the path',
      {
        fields: [{ path: 'action_id', message: 'must match the path' }],
      },
    );
  }
  return { ...body, action_id: actionId };
}

/** Query parameters as a list request; each parameter at most once, `limit` as a number. */
export function listQuery(url: URL): ListRequest {
  const value: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    if (all.length > 1) {
      throw new CountersignError('invalid_request', `invalid request: ${key} is given more than once`, {
        fields: [{ path: key, message: 'given more than once' }],
      });
    }
    const text = all[0] as string;
    value[key] = key === 'limit' && /^\d{1,6}$/.test(text) ? Number(text) : text;
  }
  return parseWith(ListRequest, value);
}

export function apiRoutes(app: HttpApp): Route[] {
  const { deps } = app;
  const limit = app.settings.bodyLimit;
  const who = (ctx: RequestContext) => bearerIdentity(ctx.req, app.tokens, app.directory);
  const id = (ctx: RequestContext) => ctx.params.action_id as string;
  const route = (
    method: Route['method'],
    path: string,
    name: string,
    handle: (ctx: RequestContext, identity: string) => Promise<unknown>,
  ): Route => ({
    method,
    path,
    name,
    kind: 'api',
    handle: async (ctx) => {
      // Authenticate before reading the body: no work for an anonymous caller.
      const identity = who(ctx);
      sendJson(ctx.res, 200, await handle(ctx, identity));
    },
  });

  return [
    route('POST', '/api/v1/approvals/cleanup', 'cleanup', async () => ({
      expired: await expireAllDue(deps, app.settings.expiryBatchSize),
    })),
    route('POST', '/api/v1/approvals', 'submit', async (ctx, identity) => {
      const body = await readJsonObject(ctx.req, ctx.res, limit);
      return submit(deps, parseWith(ApprovalRequest, actingAs(body, 'requested_by', identity)));
    }),
    route('GET', '/api/v1/approvals', 'list', async (ctx) => listApprovals(deps.pool, listQuery(ctx.url))),
    {
      // Before the :action_id route, which would take "export" for an id.
      method: 'GET',
      path: '/api/v1/approvals/export',
      name: 'export',
      kind: 'api',
      handle: async (ctx) => {
        const identity = who(ctx);
        const query = new URL(ctx.url);
        const format = exportFormat(query.searchParams.get('format'));
        query.searchParams.delete('format');
        // The list's filters; every page is exported, so no cursor or limit.
        const { cursor: _cursor, limit: _limit, ...filter } = listQuery(query);
        const count = await streamExport(deps.pool, ctx.res, filter, format);
        app.logger.info({ identity, format, approvals: count }, 'approvals exported');
      },
    },
    route('GET', '/api/v1/approvals/:action_id', 'get', async (ctx) =>
      getApproval(deps.pool, parseWith(GetRequest, { action_id: id(ctx) }).action_id),
    ),
    route('POST', '/api/v1/approvals/:action_id/decide', 'decide', async (ctx, identity) => {
      const body = withPathId(await readJsonObject(ctx.req, ctx.res, limit), id(ctx));
      return decide(deps, parseWith(DecideRequest, actingAs(body, 'decided_by', identity)), identity);
    }),
    route('POST', '/api/v1/approvals/:action_id/cancel', 'cancel', async (ctx, identity) => {
      const body = withPathId(await readJsonObject(ctx.req, ctx.res, limit), id(ctx));
      return cancel(deps, parseWith(CancelRequest, actingAs(body, 'cancelled_by', identity)), identity);
    }),
    route('POST', '/api/v1/approvals/:action_id/report', 'report', async (ctx, identity) => {
      const body = withPathId(await readJsonObject(ctx.req, ctx.res, limit), id(ctx));
      return report(deps, parseWith(ReportRequest, actingAs(body, 'reported_by', identity)), identity);
    }),
    route('GET', '/api/v1/stats', 'stats', async () => approvalStats(deps.pool)),
    // Delegations: the token's identity delegates its own approvals, and ends those it gave or got.
    route('POST', '/api/v1/delegations', 'delegate', async (ctx, identity) => {
      const body = await readJsonObject(ctx.req, ctx.res, limit);
      return delegate(deps, parseWith(DelegateRequest, actingAs(body, 'delegator', identity)), identity);
    }),
    route('GET', '/api/v1/delegations', 'delegations', async (ctx) => {
      const query = Object.fromEntries(ctx.url.searchParams);
      const active = query.active === undefined ? {} : { active: query.active === 'true' };
      return listDelegations(deps.pool, parseWith(ListDelegationsRequest, { ...query, ...active }));
    }),
    route('POST', '/api/v1/delegations/:id/revoke', 'undelegate', async (ctx, identity) => {
      const body = await readJsonObject(ctx.req, ctx.res, limit);
      const request = { ...actingAs(body, 'revoked_by', identity), id: ctx.params.id };
      return undelegate(deps, parseWith(UndelegateRequest, request), identity);
    }),
    // What the policy would decide for this request, and why: policy.evaluate through the
    // service's own policy client (its timeout; `unavailable` when no policy answers). Nothing
    // is stored. The requester is the token's identity, as for a submit.
    route('POST', '/api/v1/policy/evaluate', 'evaluate', async (ctx, identity) => {
      const body = await readJsonObject(ctx.req, ctx.res, limit);
      return deps.policy.evaluate(parseWith(EvaluateRequest, actingAs(body, 'requested_by', identity)));
    }),
    {
      method: 'GET',
      path: '/api/v1/events',
      name: 'events',
      kind: 'api',
      handle: async ({ req, res }) => {
        // EventSource cannot send headers: the dashboard's session cookie counts here too.
        // Read-only, and SameSite=Strict keeps other sites from opening it with the cookie.
        if (!(await app.session(req))) bearerIdentity(req, app.tokens, app.directory);
        if (req.method === 'HEAD') {
          // Headers only: a HEAD must not hold a stream open that can never carry a body.
          res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
          res.end();
          return;
        }
        // Last-Event-ID: a reconnecting client gets the events it missed first.
        await app.events.attach(res, req.headers['last-event-id']);
      },
    },
  ];
}
