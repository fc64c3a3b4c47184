import { type Approval, TERMINAL_STATUSES } from '@countersign/contracts';
import { formatTime, oneLine } from '../text.js';

/**
 * The markdown file of one approval. The block at the top is the only part a person edits:
 *
 *     Status: pending        ← change to approved or rejected
 *     Approved By:           ← your identity
 *     Reason:                ← optional
 *
 * A marker comment records the state the notifier last wrote, so the watcher can tell a
 * person's edit (`Status: approved` under a `pending` marker) from the notifier's own
 * rendering of a decided approval, and the file's nonce (recorded in the notifier's store for
 * the channel that wrote it), so a file the notifier did not write for that channel is refused.
 */
export const FILE_PREFIX = 'approval_';
export const FILE_SUFFIX = '.md';

export function fileNameFor(actionId: string): string {
  return `${FILE_PREFIX}${actionId}${FILE_SUFFIX}`;
}

export function actionIdOf(fileName: string): string | undefined {
  if (!fileName.startsWith(FILE_PREFIX) || !fileName.endsWith(FILE_SUFFIX)) return undefined;
  return fileName.slice(FILE_PREFIX.length, -FILE_SUFFIX.length) || undefined;
}

const MARKER = /^<!-- countersign:state=([a-z_]+)(?: file=([A-Za-z0-9_-]{1,64}))? -->$/m;

export interface EditableFields {
  /** The state the notifier last wrote (from the marker). */
  writtenState: string | undefined;
  /** The nonce the notifier wrote into the marker; undefined in a file without one. */
  nonce: string | undefined;
  status: string;
  approvedBy: string;
  reason: string;
}

/**
 * Reads the editable block: only the lines between the marker and the first heading count, so
 * text inside the description or context (hostile input) can never pose as a decision.
 */
export function parseEditable(markdown: string): EditableFields {
  const marker = MARKER.exec(markdown);
  const fields = { status: '', approvedBy: '', reason: '' };
  if (marker) {
    const after = markdown.slice(marker.index + marker[0].length);
    const end = after.search(/^#/m);
    const block = end === -1 ? after : after.slice(0, end);
    for (const line of block.split(/\r?\n/)) {
      const match = /^\s*(Status|Approved By|Reason)\s*:(.*)$/i.exec(line);
      if (!match?.[1]) continue;
      const value = (match[2] ?? '').trim();
      const key = match[1].toLowerCase();
      if (key === 'status') fields.status = value.toLowerCase();
      else if (key === 'approved by') fields.approvedBy = value;
      else fields.reason = value;
    }
  }
  return { writtenState: marker?.[1], nonce: marker?.[2], ...fields };
}

/** A fence longer than any backtick run inside, so the content cannot close it. */
function fenced(content: string, info = ''): string {
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${content}\n${fence}`;
}

/** Inline text with markdown and HTML punctuation escaped (Obsidian renders HTML). */
function inline(text: string, max = 200): string {
  return oneLine(text, max).replace(/[\\`*_[\]<>|~#!]/g, (c) => `\\${c}`);
}

export interface RenderOptions {
  /** The file's nonce, as recorded for the channel writing it. */
  nonce: string;
  /** A message to the reader: a refused decision, a recorded vote. */
  note?: string;
}

function isTerminal(approval: Approval): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(approval.status);
}

export function renderApprovalFile(approval: Approval, options: RenderOptions): string {
  const terminal = isTerminal(approval);
  const lines: string[] = [
    `# Approval: ${inline(approval.action_type, 64)} (${approval.action_id})`,
    '',
    `<!-- countersign:state=${approval.status} file=${options.nonce} -->`,
    '',
    `Status: ${approval.status}`,
    `Approved By: ${terminal && approval.decided_by ? oneLine(approval.decided_by) : ''}`,
    `Reason: ${terminal && approval.decision_reason ? oneLine(approval.decision_reason, 500) : ''}`,
    '',
  ];
  if (options.note) lines.push(`> **Note:** ${inline(options.note, 1000)}`, '');
  if (terminal) {
    lines.push(
      '## Outcome',
      '',
      `- **Status:** ${approval.status}`,
      `- **Decided by:** ${inline(approval.decided_by ?? '-')}`,
      `- **Decided at:** ${approval.decided_at ? formatTime(approval.decided_at) : '-'}`,
      `- **Reason:** ${inline(approval.decision_reason ?? '-', 500)}`,
      '',
    );
  } else {
    lines.push(
      '## How to decide',
      '',
      'Edit the three lines above: change `Status: pending` to `Status: approved` or `Status: rejected`,',
      'put your identity after `Approved By:` (also when rejecting) and, optionally, a reason after',
      '`Reason:`. Save the file. Countersign submits the decision (the same rules as everywhere:',
      'no self-approval, an approver role is needed) and writes the result back into this file.',
      'Only people the directory allows on this folder can decide here, and only in the file',
      'Countersign wrote: a copied or hand-made file is refused.',
      '',
    );
  }
  if (approval.votes.length > 0) {
    lines.push('## Votes', '');
    for (const vote of approval.votes) {
      const reason = vote.reason ? `: ${inline(vote.reason, 300)}` : '';
      lines.push(
        `- ${inline(vote.voter)} ${vote.approved ? 'approved' : 'rejected'} at ${formatTime(vote.at)}${reason}`,
      );
    }
    lines.push('');
  }
  lines.push(
    '## Action',
    '',
    `- **Action ID:** ${inline(approval.action_id)}`,
    `- **Action type:** ${inline(approval.action_type, 64)}`,
    `- **Requested by:** ${inline(approval.requested_by)}`,
    `- **Requested at:** ${formatTime(approval.created_at)}`,
    `- **Expires:** ${formatTime(approval.expires_at)}`,
    ...(approval.run_id ? [`- **Run:** ${inline(approval.run_id)}`] : []),
    '',
    '## Description',
    '',
    fenced(approval.description, 'text'),
    '',
    '## Context',
    '',
    fenced(JSON.stringify(approval.context, null, 2), 'json'),
    '',
    '## Risk assessment',
    '',
    `- **Risk:** ${approval.policy.risk}`,
    `- **Approvals needed:** ${approval.required_approvals}`,
    `- **Approver roles:** ${inline(approval.policy.approver_roles.join(', ') || '-')}`,
    `- **Policy revision:** ${inline(approval.policy.revision, 100)}`,
    '',
    '## Policy reasons',
    '',
    ...(approval.policy.reasons.length > 0
      ? approval.policy.reasons.map((r) => `- **${inline(r.code, 64)}**: ${inline(r.message, 500)}`)
      : ['- (none)']),
    '',
  );
  return lines.join('\n');
}

export interface EditableBlock {
  status: string;
  approvedBy: string;
  reason: string;
  note?: string;
}

/**
 * Rewrites only the editable block of a file (between the marker and the first heading) and
 * leaves the rest as it is: used to answer an edit without re-rendering the whole approval.
 * Returns undefined when the file has no marker (not ours, or mangled).
 */
export function rewriteEditable(markdown: string, block: EditableBlock): string | undefined {
  const marker = MARKER.exec(markdown);
  if (!marker) return undefined;
  const blockStart = marker.index + marker[0].length;
  const rest = markdown.slice(blockStart);
  const headingAt = rest.search(/^#/m);
  const tail = headingAt === -1 ? '' : rest.slice(headingAt);
  const lines = [
    '',
    '',
    `Status: ${oneLine(block.status, 32)}`,
    `Approved By: ${oneLine(block.approvedBy)}`,
    `Reason: ${oneLine(block.reason, 500)}`,
    '',
    ...(block.note ? [`> **Note:** ${inline(block.note, 1000)}`, ''] : []),
  ];
  // A blank line before the next heading, as the full rendering has.
  return `${markdown.slice(0, blockStart)}${lines.join('\n')}\n${tail}`;
}
