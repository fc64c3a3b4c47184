/**
 * The approvers' dashboard: sign in with single sign-on (sso.ts) or an API token (either kept as
 * a signed session cookie, for a person the directory lists), a list of
 * approvals with filters and a pending badge, a detail view with context, policy reasons, votes
 * and audit history, and Approve/Reject as the signed-in identity (the policy authorizes it, as
 * for every decision). Parts of the page marked `data-live` are re-fetched by dashboard.js when
 * the event stream reports a change, so nobody has to reload.
 */
import {
  type Approval,
  type ApprovalWithHistory,
  CountersignError,
  DecideRequest,
  ListRequest,
  parseWith,
} from '@countersign/contracts';
import { coerceError } from '@countersign/runtime';
import { decide } from '../lifecycle/index.js';
import { approvalStats, getApproval, listApprovals } from '../queries.js';
import { analyticsPanel, readAnalytics } from './analytics.js';
import type { HttpApp, RequestContext, Route } from './app.js';
import { fromThisOrigin, type Session } from './auth.js';
import { exportFormat, streamExport } from './export.js';
import { html, queryString, type SafeHtml } from './html.js';
import { BULK_LIMIT, type BulkResult, decideMany, waitingFor } from './inbox.js';
import { authenticationRequired, readForm, redirect, sendHtml } from './io.js';
import { recordSignOut } from './sign-outs.js';
import { OIDC_START_PATH } from './sso.js';
import {
  approvalFacts,
  contextTable,
  decisionForm,
  historyTable,
  messagePage,
  page,
  policyPanel,
  riskBadge,
  statusBadge,
  time,
  votesList,
} from './views.js';

interface Filters {
  status: string;
  action_type?: string | undefined;
  run_id?: string | undefined;
  cursor?: string | undefined;
}

const STATUSES = ['pending', 'approved', 'rejected', 'expired', 'cancelled', 'all'] as const;

function readFilters(url: URL): { filters: Filters; request: ListRequest } {
  const get = (k: string) => url.searchParams.get(k)?.trim() || undefined;
  const filters: Filters = {
    status: get('status') ?? 'pending',
    action_type: get('action_type'),
    run_id: get('run_id'),
    cursor: get('cursor'),
  };
  const request = parseWith(ListRequest, {
    ...(filters.status === 'all' ? {} : { status: filters.status }),
    ...(filters.action_type ? { action_type: filters.action_type } : {}),
    ...(filters.run_id ? { run_id: filters.run_id } : {}),
    ...(filters.cursor ? { cursor: filters.cursor } : {}),
    limit: 50,
  });
  return { filters, request };
}

function shorten(text: string, max = 140): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function detailHref(actionId: string): string {
  return `/dashboard/approvals/${encodeURIComponent(actionId)}`;
}

function approvalRows(items: readonly Approval[]): SafeHtml {
  if (items.length === 0) return html`<p class="empty">No approvals match these filters.</p>`;
  return html`<table class="approvals">
    <thead><tr><th>Action</th><th>Type</th><th>Description</th><th>Requested by</th><th>Risk</th>
      <th>Status</th><th>Requested</th><th>Expires</th></tr></thead>
    <tbody>
      ${items.map(
        (a) => html`<tr data-action-id="${a.action_id}">
          <td><a href="${detailHref(a.action_id)}"><code>${a.action_id}</code></a></td>
          <td>${a.action_type}</td>
          <td class="desc">${shorten(a.description)}</td>
          <td>${a.requested_by}</td>
          <td>${riskBadge(a.policy.risk)}</td>
          <td>${statusBadge(a.status)}</td>
          <td>${time(a.created_at)}</td>
          <td>${a.status === 'pending' ? time(a.expires_at) : html`<span class="muted">—</span>`}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Tabs of the dashboard's pages. */
function nav(current: 'list' | 'inbox' | 'analytics'): SafeHtml {
  const tab = (id: typeof current, href: string, label: string) =>
    html`<a href="${href}" ${id === current ? html`aria-current="page" class="current"` : null}>${label}</a>`;
  return html`<nav class="tabs">${tab('inbox', '/dashboard/inbox', 'Waiting for me')}${tab('list', '/dashboard', 'All approvals')}${tab('analytics', '/dashboard/analytics', 'Analytics')}</nav>`;
}

/** The inbox: each approval with a checkbox of the bulk form (outside the table, by `form=`). */
function inboxRows(items: readonly Approval[], truncated: boolean): SafeHtml {
  if (items.length === 0) return html`<p class="empty">Nothing is waiting for you.</p>`;
  return html`<table class="approvals inbox">
    <thead><tr><th><span class="visually-hidden">Select</span></th><th>Action</th><th>Type</th><th>Description</th>
      <th>Requested by</th><th>Risk</th><th>Expires</th></tr></thead>
    <tbody>
      ${items.map(
        (a) => html`<tr data-action-id="${a.action_id}">
          <td><input type="checkbox" name="action_id" value="${a.action_id}" form="bulk"
            aria-label="Select ${a.action_id}"></td>
          <td><a href="${detailHref(a.action_id)}"><code>${a.action_id}</code></a></td>
          <td>${a.action_type}</td>
          <td class="desc">${shorten(a.description)}</td>
          <td>${a.requested_by}</td>
          <td>${riskBadge(a.policy.risk)}</td>
          <td>${time(a.expires_at)}</td>
        </tr>`,
      )}
    </tbody>
  </table>
  ${truncated ? html`<p class="muted small">Only the newest pending approvals were looked at.</p>` : null}`;
}

function bulkResults(results: readonly BulkResult[], approved: boolean): SafeHtml {
  const done = results.filter((r) => r.ok).length;
  return html`<section class="card results" role="status">
    <h2>${approved ? 'Approved' : 'Rejected'} ${done} of ${results.length}</h2>
    <table class="bulk-results"><thead><tr><th>Action</th><th>Result</th></tr></thead><tbody>
    ${results.map(
      (r) => html`<tr data-action-id="${r.action_id}" data-result="${r.ok ? 'ok' : r.code}">
        <td><a href="${detailHref(r.action_id)}"><code>${r.action_id}</code></a></td>
        <td>${r.ok ? html`${statusBadge(r.status)} recorded` : html`<span class="error-inline">Not recorded (${r.code}): ${r.message}</span>`}</td>
      </tr>`,
    )}
    </tbody></table></section>`;
}

function badgeInner(pending: number): SafeHtml {
  return html`<span class="count">${pending}</span> pending`;
}

export function dashboardRoutes(app: HttpApp): Route[] {
  const { deps, sessions } = app;
  const limit = app.settings.bodyLimit;

  const badge = async () =>
    html`<a class="badge" href="/dashboard" data-live data-src="/dashboard/fragments/badge">${badgeInner(
      (await approvalStats(deps.pool)).pending,
    )}</a>`;

  const listFragment = async (url: URL) => {
    const { filters, request } = readFilters(url);
    const list = await listApprovals(deps.pool, request);
    const next = list.next_cursor
      ? html`<p class="more"><a href="/dashboard${queryString({ ...filters, cursor: list.next_cursor })}">Older →</a></p>`
      : null;
    return html`${approvalRows(list.items)}${next}`;
  };

  const panel = (approval: ApprovalWithHistory, session: Session): SafeHtml => {
    const voted = approval.votes.some((v) => v.voter === session.identity);
    const canVote = approval.status === 'pending' && !voted && Date.parse(approval.expires_at) > Date.now();
    return html`<h1>${approval.action_type} ${statusBadge(approval.status)}</h1>
      <p class="description">${approval.description}</p>
      ${approvalFacts(approval)}
      <h2>Context</h2>
      ${contextTable(approval.context)}
      <h2>Why it needs approval</h2>
      ${policyPanel(approval.policy)}
      <h2>Votes</h2>
      ${votesList(approval.votes, approval.required_approvals)}
      ${
        canVote
          ? html`<h2>Your decision</h2>${decisionForm(`${detailHref(approval.action_id)}/decide`, {
              csrf: sessions.csrfToken(session),
            })}`
          : voted && approval.status === 'pending'
            ? html`<p class="notice">You voted; waiting for other approvers.</p>`
            : null
      }
      <h2>Audit history</h2>
      ${historyTable(approval.history)}`;
  };

  const detailPage = async (
    session: Session,
    approval: ApprovalWithHistory,
    banner: SafeHtml | null,
  ): Promise<SafeHtml> =>
    page({
      title: approval.action_id,
      identity: session.identity,
      csrf: sessions.csrfToken(session),
      badge: await badge(),
      live: true,
      body: html`<p><a href="/dashboard">← All approvals</a></p>
        ${banner}
        <section class="card detail" data-live data-action="${approval.action_id}"
          data-src="/dashboard/fragments/approvals/${encodeURIComponent(approval.action_id)}">
          ${panel(approval, session)}
        </section>`,
    });

  const inboxFragment = async (session: Session) => {
    const { items, truncated } = await waitingFor(deps, session.identity);
    return inboxRows(items, truncated);
  };

  const inboxPage = async (session: Session, results: SafeHtml | null) =>
    page({
      title: 'Waiting for me',
      identity: session.identity,
      csrf: sessions.csrfToken(session),
      badge: await badge(),
      live: true,
      body: html`${nav('inbox')}${results}
        <form id="bulk" class="bulk" method="post" action="/dashboard/bulk">
          <input type="hidden" name="csrf" value="${sessions.csrfToken(session)}">
          <label>Reason (optional, for every selected approval)
            <input name="reason" maxlength="1000"></label>
          <div class="buttons">
            <button type="submit" name="decision" value="approve" class="approve">Approve selected</button>
            <button type="submit" name="decision" value="reject" class="reject">Reject selected</button>
          </div>
          <p class="muted small">Each selected approval is decided on its own (at most ${BULK_LIMIT}), as the policy allows you.</p>
        </form>
        <section class="card" id="inbox" data-live data-src="/dashboard/fragments/inbox">
          ${await inboxFragment(session)}
        </section>`,
    });

  const signInPage = (error?: string) =>
    page({
      title: 'Sign in',
      body: html`<section class="card signin">
        <h1>Sign in</h1>
        ${error ? html`<p class="error" role="alert">${error}</p>` : null}
        ${
          app.oidc
            ? html`<p><a class="button sso" href="${OIDC_START_PATH}">Sign in with SSO</a></p>
              <p class="muted">Or, for automation accounts:</p>`
            : null
        }
        <p>Paste your Countersign API token. It is checked once; the browser keeps only a signed session.</p>
        <form method="post" action="/dashboard/login">
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="off" required>
          <button type="submit">Sign in</button>
        </form>
      </section>`,
    });

  /** The page's session; without one, pages go to sign-in and fragments answer 401. */
  const sessionOf = (ctx: RequestContext): Promise<Session | undefined> => app.session(ctx.req);
  const fragmentSession = async (ctx: RequestContext): Promise<Session> => {
    const session = await sessionOf(ctx);
    if (!session) throw authenticationRequired('sign in again');
    return session;
  };
  /** Unsafe requests: same origin, and the form's CSRF token matches the session. */
  const checkForm = (ctx: RequestContext, session: Session | undefined, form: URLSearchParams) => {
    if (
      !fromThisOrigin(ctx.req, app.publicOrigin) ||
      (session && !sessions.checkCsrf(session, form.get('csrf')))
    ) {
      throw new CountersignError(
        'forbidden',
        'the form was not sent from this dashboard; reload the page and try again',
      );
    }
  };

  return [
    {
      method: 'GET',
      path: '/',
      name: 'root',
      kind: 'page',
      handle: async ({ res }) => redirect(res, '/dashboard'),
    },
    {
      method: 'GET',
      path: '/dashboard',
      name: 'dashboard',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) return sendHtml(ctx.res, 200, signInPage());
        const { filters } = readFilters(ctx.url);
        const exportQuery = { ...filters, cursor: undefined };
        const body = html`${nav('list')}<form class="filters" method="get" action="/dashboard">
            <label>Status <select name="status">
              ${STATUSES.map((s) => html`<option value="${s}" ${s === filters.status ? html`selected` : null}>${s}</option>`)}
            </select></label>
            <label>Action type <input name="action_type" value="${filters.action_type ?? ''}" maxlength="64"></label>
            <label>Run <input name="run_id" value="${filters.run_id ?? ''}" maxlength="256"></label>
            <button type="submit">Filter</button>
            <span class="exports">Export with history:
              <a href="/dashboard/export${queryString({ ...exportQuery, format: 'csv' })}" download>CSV</a>
              <a href="/dashboard/export${queryString({ ...exportQuery, format: 'jsonl' })}" download>JSON Lines</a></span>
          </form>
          <section class="card" id="approvals" data-live
            data-src="/dashboard/fragments/list${queryString({ ...filters })}">
            ${await listFragment(ctx.url)}
          </section>`;
        sendHtml(
          ctx.res,
          200,
          page({
            title: 'Approvals',
            identity: session.identity,
            csrf: sessions.csrfToken(session),
            badge: await badge(),
            live: true,
            body,
          }),
        );
      },
    },
    {
      method: 'POST',
      path: '/dashboard/login',
      name: 'login',
      kind: 'page',
      handle: async (ctx) => {
        // Counted before anything is read or checked: every attempt costs one.
        app.signInLimiter.take(ctx.req);
        const form = await readForm(ctx.req, ctx.res, limit);
        checkForm(ctx, undefined, form);
        const who = app.tokens.identify(form.get('token')?.trim() ?? '');
        if (!who) return sendHtml(ctx.res, 401, signInPage('That token is not valid.'));
        if (!app.directory().get(who.identity)) {
          app.logger.warn(
            { identity: who.identity, reason: 'unknown_identity' },
            'dashboard sign-in refused',
          );
          return sendHtml(
            ctx.res,
            403,
            signInPage(`${who.identity} is not in the directory (unknown_identity).`),
          );
        }
        app.logger.info({ identity: who.identity, method: 'token' }, 'dashboard sign-in');
        redirect(ctx.res, '/dashboard', { 'Set-Cookie': sessions.issue(who) });
      },
    },
    {
      method: 'POST',
      path: '/dashboard/logout',
      name: 'logout',
      kind: 'page',
      handle: async (ctx) => {
        const form = await readForm(ctx.req, ctx.res, limit);
        const session = await sessionOf(ctx);
        checkForm(ctx, session, form);
        // Clearing the cookie is not enough: a copy of it would work until it expires.
        if (session) await recordSignOut(deps.pool, session);
        redirect(ctx.res, '/dashboard', { 'Set-Cookie': sessions.clear() });
      },
    },
    {
      method: 'GET',
      path: '/dashboard/fragments/list',
      name: 'dashboard_list',
      kind: 'page',
      handle: async (ctx) => {
        await fragmentSession(ctx);
        sendHtml(ctx.res, 200, await listFragment(ctx.url));
      },
    },
    {
      method: 'GET',
      path: '/dashboard/fragments/badge',
      name: 'dashboard_badge',
      kind: 'page',
      handle: async (ctx) => {
        await fragmentSession(ctx);
        sendHtml(ctx.res, 200, badgeInner((await approvalStats(deps.pool)).pending));
      },
    },
    {
      method: 'GET',
      path: '/dashboard/fragments/approvals/:action_id',
      name: 'dashboard_panel',
      kind: 'page',
      handle: async (ctx) => {
        const session = await fragmentSession(ctx);
        sendHtml(ctx.res, 200, panel(await getApproval(deps.pool, ctx.params.action_id as string), session));
      },
    },
    {
      method: 'GET',
      path: '/dashboard/approvals/:action_id',
      name: 'dashboard_detail',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) return redirect(ctx.res, '/dashboard');
        const approval = await getApproval(deps.pool, ctx.params.action_id as string);
        const result = ctx.url.searchParams.get('result');
        const banner =
          result === 'approved' || result === 'rejected'
            ? html`<p class="notice" role="status">You ${result} this approval.</p>`
            : null;
        sendHtml(ctx.res, 200, await detailPage(session, approval, banner));
      },
    },
    {
      method: 'POST',
      path: '/dashboard/approvals/:action_id/decide',
      name: 'dashboard_decide',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) throw authenticationRequired('sign in to decide');
        const form = await readForm(ctx.req, ctx.res, limit);
        checkForm(ctx, session, form);
        const decision = form.get('decision');
        const reason = form.get('reason')?.trim();
        const actionId = ctx.params.action_id as string;
        try {
          const request = parseWith(DecideRequest, {
            action_id: actionId,
            approved: decision === 'approve' ? true : decision === 'reject' ? false : decision,
            decided_by: session.identity,
            ...(reason ? { reason } : {}),
          });
          await decide(deps, request, session.identity);
          redirect(ctx.res, `${detailHref(actionId)}?result=${request.approved ? 'approved' : 'rejected'}`);
        } catch (err) {
          const error = coerceError(err);
          if (error.code === 'internal' || error.code === 'not_found' || error.code === 'unavailable')
            throw error;
          // Refused (not allowed, already decided, expired, bad input): show why, on the approval.
          app.metrics.commandError('http', 'dashboard_decide', error.code);
          const approval = await getApproval(deps.pool, actionId);
          const banner = html`<p class="error" role="alert">Not recorded: ${error.message}</p>`;
          sendHtml(ctx.res, error.status, await detailPage(session, approval, banner));
        }
      },
    },
    {
      method: 'GET',
      path: '/dashboard/inbox',
      name: 'dashboard_inbox',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) return redirect(ctx.res, '/dashboard');
        sendHtml(ctx.res, 200, await inboxPage(session, null));
      },
    },
    {
      method: 'GET',
      path: '/dashboard/fragments/inbox',
      name: 'dashboard_inbox_list',
      kind: 'page',
      handle: async (ctx) => {
        const session = await fragmentSession(ctx);
        sendHtml(ctx.res, 200, await inboxFragment(session));
      },
    },
    {
      method: 'POST',
      path: '/dashboard/bulk',
      name: 'dashboard_bulk',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) throw authenticationRequired('sign in to decide');
        const form = await readForm(ctx.req, ctx.res, limit);
        checkForm(ctx, session, form);
        const decision = form.get('decision');
        if (decision !== 'approve' && decision !== 'reject') {
          throw new CountersignError(
            'invalid_request',
            'invalid request: decision must be approve or reject',
            {
              fields: [{ path: 'decision', message: 'approve or reject' }],
            },
          );
        }
        const approved = decision === 'approve';
        const results = await decideMany(deps, session.identity, {
          actionIds: form.getAll('action_id'),
          approved,
          reason: form.get('reason')?.trim() || undefined,
        });
        app.logger.info(
          {
            identity: session.identity,
            approved,
            items: results.length,
            recorded: results.filter((r) => r.ok).length,
          },
          'bulk decision',
        );
        sendHtml(ctx.res, 200, await inboxPage(session, bulkResults(results, approved)));
      },
    },
    {
      method: 'GET',
      path: '/dashboard/export',
      name: 'dashboard_export',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) throw authenticationRequired('sign in to export');
        const format = exportFormat(ctx.url.searchParams.get('format'));
        const { request } = readFilters(ctx.url);
        const { cursor: _cursor, limit: _limit, ...filter } = request;
        const count = await streamExport(deps.pool, ctx.res, filter, format);
        app.logger.info({ identity: session.identity, format, approvals: count }, 'approvals exported');
      },
    },
    {
      method: 'GET',
      path: '/dashboard/analytics',
      name: 'dashboard_analytics',
      kind: 'page',
      handle: async (ctx) => {
        const session = await sessionOf(ctx);
        if (!session) return redirect(ctx.res, '/dashboard');
        const days = analyticsDays(ctx.url);
        sendHtml(
          ctx.res,
          200,
          page({
            title: 'Analytics',
            identity: session.identity,
            csrf: sessions.csrfToken(session),
            badge: await badge(),
            live: true,
            body: html`${nav('analytics')}
              <form class="filters" method="get" action="/dashboard/analytics">
                <label>Window <select name="days">
                  ${[7, 30, 90, 365].map((d) => html`<option value="${d}" ${d === days ? html`selected` : null}>last ${d} days</option>`)}
                </select></label>
                <button type="submit">Show</button>
              </form>
              <section class="card analytics" data-live data-src="/dashboard/fragments/analytics?days=${days}">
                ${analyticsPanel(await readAnalytics(deps.pool, days))}
              </section>`,
          }),
        );
      },
    },
    {
      method: 'GET',
      path: '/dashboard/fragments/analytics',
      name: 'dashboard_analytics_panel',
      kind: 'page',
      handle: async (ctx) => {
        await fragmentSession(ctx);
        sendHtml(ctx.res, 200, analyticsPanel(await readAnalytics(deps.pool, analyticsDays(ctx.url))));
      },
    },
  ];
}

/** The analytics window in days: one of the offered ones, 30 by default. */
function analyticsDays(url: URL): number {
  const days = Number(url.searchParams.get('days') ?? '30');
  if (![7, 30, 90, 365].includes(days)) {
    throw new CountersignError('invalid_request', 'invalid request: days must be 7, 30, 90 or 365', {
      fields: [{ path: 'days', message: '7, 30, 90 or 365' }],
    });
  }
  return days;
}

/** Renders a refusal of a page route (unknown approval, bad filter, database down) for people. */
export function errorPage(error: CountersignError): SafeHtml {
  const titles: Partial<Record<CountersignError['code'], string>> = {
    not_found: 'Not found',
    invalid_request: 'That request is not valid',
    forbidden: 'Not allowed',
    already_decided: 'Already decided',
    expired: 'Expired',
    unavailable: 'Temporarily unavailable',
    payload_too_large: 'Too much data',
  };
  const message =
    error.code === 'internal' ? 'Something went wrong on our side. Nothing was changed.' : error.message;
  return messagePage(
    titles[error.code] ?? 'Something went wrong',
    message,
    html`<p><a href="/dashboard">Dashboard</a></p>`,
  );
}
