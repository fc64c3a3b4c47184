/**
 * Server-rendered pieces shared by the review page and the dashboard. Every value goes through
 * the escaping `html` template: approval content is written by requesters and is hostile input.
 */
import type { Approval, ApprovalStatus, AuditEvent, PolicyDecision, Vote } from '@countersign/contracts';
import { html, type SafeHtml } from './html.js';

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** Signed-in identity, shown in the header with a sign-out button. */
  identity?: string | undefined;
  csrf?: string | undefined;
  /** Live pending badge in the header (dashboard pages). */
  badge?: SafeHtml | undefined;
  /** Loads the dashboard script (live updates). */
  live?: boolean;
  /** Extra elements of <head> (a refresh after sign-in). */
  head?: SafeHtml | undefined;
}

export function page(options: PageOptions): SafeHtml {
  const account = options.identity
    ? html`<form class="signout" method="post" action="/dashboard/logout">
        <span class="who">Signed in as <strong>${options.identity}</strong></span>
        <input type="hidden" name="csrf" value="${options.csrf}">
        <button type="submit" class="link">Sign out</button>
      </form>`
    : null;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · Countersign</title>
<link rel="stylesheet" href="/assets/app.css">
${options.head ?? null}
</head>
<body>
<header class="top">
  <a class="brand" href="/dashboard">Countersign</a>
  ${options.badge ?? null}
  <span class="spacer"></span>
  ${account}
</header>
<main>
${options.body}
</main>
${options.live ? html`<script src="/assets/dashboard.js" defer></script>` : null}
</body>
</html>
`;
}

/** A page that says what went wrong and what to do; never any detail an attacker could use. */
export function messagePage(
  title: string,
  message: string,
  extra: SafeHtml | null = null,
  head?: SafeHtml,
): SafeHtml {
  return page({
    title,
    head,
    body: html`<section class="card message">
      <h1>${title}</h1>
      <p>${message}</p>
      ${extra}
    </section>`,
  });
}

export function time(iso: string | null): SafeHtml {
  if (!iso) return html`<span class="muted">—</span>`;
  const shown = `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  return html`<time datetime="${iso}">${shown}</time>`;
}

export function statusBadge(status: ApprovalStatus): SafeHtml {
  return html`<span class="status status-${status}">${status}</span>`;
}

export function riskBadge(risk: PolicyDecision['risk']): SafeHtml {
  return html`<span class="risk risk-${risk}">${risk}</span>`;
}

export function approvalFacts(a: Approval): SafeHtml {
  return html`<dl class="facts">
    <dt>Action</dt><dd><code>${a.action_id}</code></dd>
    <dt>Type</dt><dd>${a.action_type}</dd>
    <dt>Requested by</dt><dd>${a.requested_by}</dd>
    ${a.run_id ? html`<dt>Run</dt><dd><code>${a.run_id}</code></dd>` : null}
    <dt>Status</dt><dd>${statusBadge(a.status)}</dd>
    <dt>Risk</dt><dd>${riskBadge(a.policy.risk)}</dd>
    <dt>Requested</dt><dd>${time(a.created_at)}</dd>
    <dt>${a.status === 'pending' ? 'Expires' : 'Deadline'}</dt><dd>${time(a.expires_at)}</dd>
    ${
      a.decided_at
        ? html`<dt>Decided</dt><dd>${time(a.decided_at)} by ${a.decided_by}${
            a.decision_reason ? html`: <q>${a.decision_reason}</q>` : null
          }</dd>`
        : null
    }
  </dl>`;
}

function contextValue(value: unknown): SafeHtml {
  if (typeof value === 'string') return html`${value}`;
  return html`<code>${JSON.stringify(value, null, 2)}</code>`;
}

export function contextTable(context: Record<string, unknown>): SafeHtml {
  const entries = Object.entries(context);
  if (entries.length === 0) return html`<p class="muted">No context given.</p>`;
  return html`<table class="context">
    <tbody>
      ${entries.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${contextValue(v)}</td></tr>`)}
    </tbody>
  </table>`;
}

export function policyPanel(policy: PolicyDecision): SafeHtml {
  return html`<ul class="reasons">
      ${
        policy.reasons.length
          ? policy.reasons.map((r) => html`<li><code>${r.code}</code> ${r.message}</li>`)
          : html`<li class="muted">The policy gave no reasons.</li>`
      }
    </ul>
    <p class="small muted">Needs ${policy.required_approvals} approval${
      policy.required_approvals === 1 ? '' : 's'
    }${policy.approver_roles.length ? html` from: ${policy.approver_roles.join(', ')}` : null} · policy revision
      <code>${policy.revision}</code></p>`;
}

export function votesList(votes: readonly Vote[], required: number): SafeHtml {
  const approvals = votes.filter((v) => v.approved).length;
  return html`<p class="tally">${approvals} of ${required} approval${required === 1 ? '' : 's'}</p>
    ${
      votes.length
        ? html`<ul class="votes">${votes.map(
            (v) => html`<li>
              <span class="vote ${v.approved ? 'vote-yes' : 'vote-no'}">${v.approved ? 'approved' : 'rejected'}</span>
              <strong>${v.voter}</strong>${v.on_behalf_of ? html` for ${v.on_behalf_of}` : null} ${time(v.at)}${v.reason ? html`: <q>${v.reason}</q>` : null}
            </li>`,
          )}</ul>`
        : html`<p class="muted">No votes yet.</p>`
    }`;
}

export function historyTable(history: readonly AuditEvent[]): SafeHtml {
  return html`<table class="history">
    <thead><tr><th>#</th><th>When</th><th>Event</th><th>Who</th><th>Why</th></tr></thead>
    <tbody>
      ${history.map(
        (e) => html`<tr>
          <td>${e.seq}</td><td>${time(e.at)}</td><td><code>${e.event}</code></td><td>${e.actor}</td>
          <td>${e.reason ?? ''}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

/** Approve/Reject with a reason: the review page and the dashboard post the same fields. */
export function decisionForm(action: string, hidden: Record<string, string>, submitLabel = ''): SafeHtml {
  return html`<form class="decide" method="post" action="${action}">
    ${Object.entries(hidden).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
    <label for="reason">Reason <span class="muted">(optional, recorded in the audit trail)</span></label>
    <textarea id="reason" name="reason" maxlength="2000" rows="3"></textarea>
    <div class="buttons">
      <button type="submit" name="decision" value="approve" class="approve">Approve${submitLabel}</button>
      <button type="submit" name="decision" value="reject" class="reject">Reject${submitLabel}</button>
    </div>
  </form>`;
}
