/**
 * The analytics page's numbers and charts: the pending backlog, time to decision (median and
 * p90) of approvals people decided, and approval, rejection and expiry rates by action type and
 * by approver, over a window of days. Charts are inline SVG rendered here (no script, no CDN,
 * no inline style: presentation attributes only, which the Content-Security-Policy allows).
 */
import { query } from '@countersign/runtime';
import type pg from 'pg';
import { html, type SafeHtml } from './html.js';

export interface Outcomes {
  approved: number;
  rejected: number;
  expired: number;
}

export interface Analytics {
  days: number;
  pending: number;
  /** Seconds from request to decision, of approvals people decided (approved or rejected); null without any. */
  median: number | null;
  p90: number | null;
  decided: number;
  byActionType: { label: string; outcomes: Outcomes }[];
  /** Votes cast by each person: an expiry is nobody's vote, so approvers have approved and rejected only. */
  byApprover: { label: string; outcomes: Outcomes }[];
}

/** Rows per chart at most (the busiest first). */
const TOP = 20;

/**
 * Reads the numbers for approvals created in the last `days` days that waited for people (policy
 * outcome needs_approval: auto-decisions would drown every rate in instant approvals).
 */
export async function readAnalytics(pool: pg.Pool, days: number): Promise<Analytics> {
  const window = [days];
  const [pending, times, types, approvers] = await Promise.all([
    query<{ n: string }>(pool, `select count(*) as n from approval.approvals where status = 'pending'`),
    query<{ median: number | null; p90: number | null; n: string }>(
      pool,
      `select percentile_cont(0.5) within group (order by extract(epoch from decided_at - created_at))::float8 as median,
              percentile_cont(0.9) within group (order by extract(epoch from decided_at - created_at))::float8 as p90,
              count(*) as n
         from approval.approvals
        where status in ('approved', 'rejected') and policy->>'outcome' = 'needs_approval'
          and created_at > now() - make_interval(days => $1)`,
      window,
    ),
    query<{ label: string; approved: string; rejected: string; expired: string }>(
      pool,
      `select action_type as label,
              count(*) filter (where status = 'approved') as approved,
              count(*) filter (where status = 'rejected') as rejected,
              count(*) filter (where status = 'expired') as expired
         from approval.approvals
        where status in ('approved', 'rejected', 'expired') and policy->>'outcome' = 'needs_approval'
          and created_at > now() - make_interval(days => $1)
        group by action_type order by count(*) desc, action_type limit ${TOP}`,
      window,
    ),
    query<{ label: string; approved: string; rejected: string }>(
      pool,
      `select v.voter as label,
              count(*) filter (where v.approved) as approved,
              count(*) filter (where not v.approved) as rejected
         from approval.votes v
        where v.at > now() - make_interval(days => $1)
        group by v.voter order by count(*) desc, v.voter limit ${TOP}`,
      window,
    ),
  ]);
  const time = times.rows[0];
  return {
    days,
    pending: Number(pending.rows[0]?.n ?? 0),
    median: time?.median ?? null,
    p90: time?.p90 ?? null,
    decided: Number(time?.n ?? 0),
    byActionType: types.rows.map((r) => ({
      label: r.label,
      outcomes: { approved: Number(r.approved), rejected: Number(r.rejected), expired: Number(r.expired) },
    })),
    byApprover: approvers.rows.map((r) => ({
      label: r.label,
      outcomes: { approved: Number(r.approved), rejected: Number(r.rejected), expired: 0 },
    })),
  };
}

/** `1h 05m`, `3m 20s`, `12s`: a duration people read at a glance. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

const COLORS: Record<keyof Outcomes, string> = {
  approved: '#1f7a3d',
  rejected: '#b42318',
  expired: '#9aa1ae',
};

/**
 * A horizontal 100% stacked bar per row (approved, rejected, expired), its label and counts
 * beside it, with a `<title>` per segment for the exact share. Labels are escaped text.
 */
export function outcomeChart(title: string, rows: { label: string; outcomes: Outcomes }[]): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">Nothing decided in this window.</p>`;
  const labelWidth = 180;
  const barWidth = 520;
  const rowHeight = 28;
  const height = rows.length * rowHeight + 30;
  const width = labelWidth + barWidth + 150;
  const bars = rows.map(({ label, outcomes }, i) => {
    const total = outcomes.approved + outcomes.rejected + outcomes.expired;
    const y = i * rowHeight + 4;
    let x = labelWidth;
    const segments = (Object.keys(COLORS) as (keyof Outcomes)[]).map((kind) => {
      const n = outcomes[kind];
      if (n === 0 || total === 0) return null;
      const w = (n / total) * barWidth;
      const rect = html`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${COLORS[kind]}"><title>${label}: ${n} ${kind} (${Math.round((n / total) * 100)}%)</title></rect>`;
      x += w;
      return rect;
    });
    const short = label.length > 24 ? `${label.slice(0, 23)}…` : label;
    return html`<g class="row" data-label="${label}">
      <text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" font-size="12" fill="#1d2330">${short}</text>
      ${segments}
      <text x="${labelWidth + barWidth + 8}" y="${y + 15}" font-size="12" fill="#6b7385">${outcomes.approved}/${outcomes.rejected}/${outcomes.expired} of ${total}</text>
    </g>`;
  });
  const legendY = rows.length * rowHeight + 18;
  const legend = (Object.keys(COLORS) as (keyof Outcomes)[]).map(
    (
      kind,
      i,
    ) => html`<rect x="${labelWidth + i * 110}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[kind]}"></rect>
      <text x="${labelWidth + i * 110 + 18}" y="${legendY}" font-size="12" fill="#1d2330">${kind}</text>`,
  );
  return html`<svg class="chart" role="img" aria-label="${title}" xmlns="http://www.w3.org/2000/svg"
    viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <title>${title}</title>
    ${bars}
    ${legend}
  </svg>`;
}

/** The analytics panel (a live region: it is re-rendered when approvals change). */
export function analyticsPanel(a: Analytics): SafeHtml {
  return html`<div class="stats">
      <div class="stat"><span class="label">Pending now</span><span class="value" data-stat="pending">${a.pending}</span></div>
      <div class="stat"><span class="label">Median time to decision</span><span class="value" data-stat="median">${formatDuration(a.median)}</span></div>
      <div class="stat"><span class="label">p90 time to decision</span><span class="value" data-stat="p90">${formatDuration(a.p90)}</span></div>
      <div class="stat"><span class="label">Decided by people</span><span class="value" data-stat="decided">${a.decided}</span></div>
    </div>
    <h2>Outcomes by action type</h2>
    ${outcomeChart('Approved, rejected and expired approvals by action type', a.byActionType)}
    <h2>Votes by approver</h2>
    ${outcomeChart('Approving and rejecting votes by approver', a.byApprover)}`;
}
