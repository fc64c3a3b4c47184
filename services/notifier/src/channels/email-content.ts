import type { Approval } from '@countersign/contracts';
import { escapeHtml, formatTime, formatValue, oneLine } from '../text.js';

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

export interface PendingEmailOptions {
  /** The recipient's personal review link; fixed recipients get none. */
  review?: { url: string; approver: string };
  /** A reminder or an escalation of a pending approval: said in the subject and headline. */
  follow_up?: 'approval.reminder' | 'approval.escalated';
}

type Row = [label: string, value: string];

function summaryRows(approval: Approval): Row[] {
  const roles = approval.policy.approver_roles;
  return [
    ['Action ID', approval.action_id],
    ['Action type', approval.action_type],
    ['Risk', approval.policy.risk],
    ['Requested by', approval.requested_by],
    ['Requested at', formatTime(approval.created_at)],
    ['Expires', formatTime(approval.expires_at)],
    [
      'Approvals needed',
      `${approval.required_approvals}${roles.length > 0 ? ` (roles: ${roles.join(', ')})` : ''}`,
    ],
    ...(approval.run_id ? ([['Run', approval.run_id]] as Row[]) : []),
  ];
}

function contextRows(approval: Approval): Row[] {
  return Object.entries(approval.context).map(([key, value]) => [key, formatValue(value)]);
}

function textTable(rows: Row[], indent = ''): string {
  const width = Math.min(24, Math.max(0, ...rows.map(([label]) => label.length)));
  return rows.map(([label, value]) => `${indent}${`${label}:`.padEnd(width + 2)}${value}`).join('\n');
}

function htmlTable(rows: Row[]): string {
  const body = rows
    .map(
      ([label, value]) =>
        `<tr><th align="left" style="padding:2px 12px 2px 0;vertical-align:top">${escapeHtml(label)}</th>` +
        `<td style="padding:2px 0;white-space:pre-wrap">${escapeHtml(value)}</td></tr>`,
    )
    .join('');
  return `<table style="border-collapse:collapse">${body}</table>`;
}

function htmlParagraphs(text: string): string {
  return `<p style="white-space:pre-wrap">${escapeHtml(text)}</p>`;
}

function htmlPage(title: string, sections: string[]): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body style="font-family:sans-serif">${sections.join('')}</body></html>`;
}

/** The email asking for a decision: everything an approver needs, and their review link. */
export function renderPendingEmail(approval: Approval, options: PendingEmailOptions = {}): EmailContent {
  const lead =
    options.follow_up === 'approval.reminder'
      ? 'Reminder: approval still needed'
      : options.follow_up === 'approval.escalated'
        ? 'Escalated: approval needed'
        : 'Approval needed';
  const headline = `${lead}: ${oneLine(approval.action_type, 64)} (${approval.policy.risk} risk)`;
  const subject = `${headline} - ${approval.action_id}`;
  const reasons = approval.policy.reasons.map((r) => `${r.code}: ${r.message}`);
  const context = contextRows(approval);
  const review = options.review;
  const linkNote = review
    ? `The link opens a confirmation page: nothing is decided until you confirm there. It is personal to ${oneLine(review.approver)}, works once, and expires with the approval.`
    : 'Each approver receives a personal review link in a separate message.';

  const text = [
    headline,
    '',
    approval.description,
    '',
    textTable(summaryRows(approval)),
    '',
    'Context',
    context.length > 0 ? textTable(context, '  ') : '  (none)',
    '',
    'Why this needs approval',
    ...(reasons.length > 0 ? reasons.map((r) => `  - ${r}`) : ['  (no reasons given)']),
    '',
    ...(review ? [`Review as ${oneLine(review.approver)}: ${review.url}`, ''] : []),
    linkNote,
    '',
  ].join('\n');

  const html = htmlPage(subject, [
    `<h2>${escapeHtml(headline)}</h2>`,
    htmlParagraphs(approval.description),
    htmlTable(summaryRows(approval)),
    '<h3>Context</h3>',
    context.length > 0 ? htmlTable(context) : '<p>(none)</p>',
    '<h3>Why this needs approval</h3>',
    reasons.length > 0
      ? `<ul>${reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul>`
      : '<p>(no reasons given)</p>',
    review
      ? `<p><a href="${escapeHtml(review.url)}" style="display:inline-block;padding:8px 16px;background:#1f6feb;color:#fff;text-decoration:none;border-radius:4px">Review as ${escapeHtml(oneLine(review.approver))}</a></p>`
      : '',
    `<p style="color:#555">${escapeHtml(linkNote)}</p>`,
  ]);
  return { subject, text, html };
}

/** The email telling the outcome. */
export function renderDecidedEmail(approval: Approval): EmailContent {
  const headline = `Approval ${approval.status}: ${oneLine(approval.action_type, 64)}`;
  const subject = `${headline} - ${approval.action_id}`;
  const rows: Row[] = [
    ['Action ID', approval.action_id],
    ['Status', approval.status],
    ['Decided by', approval.decided_by ?? '-'],
    ['Decided at', approval.decided_at ? formatTime(approval.decided_at) : '-'],
    ['Reason', approval.decision_reason ?? '-'],
    ['Requested by', approval.requested_by],
  ];
  const votes = approval.votes.map(
    (v) =>
      `${v.voter} ${v.approved ? 'approved' : 'rejected'} at ${formatTime(v.at)}${v.reason ? `: ${v.reason}` : ''}`,
  );
  const text = [
    headline,
    '',
    approval.description,
    '',
    textTable(rows),
    '',
    ...(votes.length > 0 ? ['Votes', ...votes.map((v) => `  - ${v}`), ''] : []),
  ].join('\n');
  const html = htmlPage(subject, [
    `<h2>${escapeHtml(headline)}</h2>`,
    htmlParagraphs(approval.description),
    htmlTable(rows),
    votes.length > 0
      ? `<h3>Votes</h3><ul>${votes.map((v) => `<li>${escapeHtml(v)}</li>`).join('')}</ul>`
      : '',
  ]);
  return { subject, text, html };
}
