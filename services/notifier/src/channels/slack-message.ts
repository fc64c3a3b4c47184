import { type Approval, SlackActions } from '@countersign/contracts';
import { formatTime, formatValue, oneLine, truncate } from '../text.js';

/** Slack mrkdwn treats &, < and > as markup (`<url|label>`, `<!channel>`): escape them. */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text: truncate(text, 3000) } });

export interface SlackButton {
  approver: string;
  url: string;
}

/** Someone asked to approve: a mention when the directory has their Slack member id. */
export interface SlackApprover {
  identity: string;
  slackUser: string | undefined;
}

/**
 * Block Kit message for a pending approval: who is asked, and a Review button per approver link
 * when the channel sends them.
 */
export function pendingSlackMessage(
  approval: Approval,
  approvers: SlackApprover[],
  buttons: SlackButton[],
  options: { decisionButtons?: boolean } = {},
): Record<string, unknown> {
  const title = `Approval needed: ${oneLine(approval.action_type, 64)} (${approval.policy.risk} risk)`;
  const context = Object.entries(approval.context)
    .map(([key, value]) => `• *${mrkdwn(oneLine(key, 64))}*: ${mrkdwn(oneLine(formatValue(value), 300))}`)
    .join('\n');
  const reasons = approval.policy.reasons
    .map((r) => `• \`${mrkdwn(oneLine(r.code, 64))}\` ${mrkdwn(oneLine(r.message, 300))}`)
    .join('\n');
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
    section(mrkdwn(approval.description)),
    {
      type: 'section',
      fields: [
        ['Action ID', approval.action_id],
        ['Requested by', approval.requested_by],
        ['Risk', approval.policy.risk],
        ['Approvals needed', String(approval.required_approvals)],
        ['Approver roles', approval.policy.approver_roles.join(', ') || '-'],
        ['Expires', formatTime(approval.expires_at)],
      ].map(([label, value]) => ({
        type: 'mrkdwn',
        text: `*${label}*\n${mrkdwn(oneLine(value ?? '', 200))}`,
      })),
    },
  ];
  if (context) blocks.push(section(`*Context*\n${context}`));
  if (reasons) blocks.push(section(`*Why this needs approval*\n${reasons}`));
  if (approvers.length > 0) {
    // The member id comes from the directory (pattern-checked there), never from the request.
    const names = approvers.map(({ identity, slackUser }) =>
      slackUser ? `<@${slackUser}>` : mrkdwn(oneLine(identity, 60)),
    );
    blocks.push(section(`*Asked to approve*\n${names.join(', ')}`));
  }
  if (options.decisionButtons) {
    // The Slack app's buttons: a click is signed by Slack and names the clicker, whom the approval
    // service maps to a person and authorizes like any other vote. The value is only the approval.
    blocks.push({
      type: 'actions',
      block_id: 'countersign_decision',
      elements: [
        {
          type: 'button',
          action_id: SlackActions.approve,
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value: approval.action_id,
        },
        {
          type: 'button',
          action_id: SlackActions.reject,
          style: 'danger',
          text: { type: 'plain_text', text: 'Reject' },
          value: approval.action_id,
        },
      ],
    });
  }
  if (buttons.length > 0) {
    blocks.push({
      type: 'actions',
      // Slack allows 25 elements per actions block.
      elements: buttons.slice(0, 25).map((button) => ({
        type: 'button',
        text: { type: 'plain_text', text: truncate(`Review as ${oneLine(button.approver, 60)}`, 75) },
        url: button.url,
      })),
    });
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: 'Each button is personal to one approver, opens a confirmation page and works once.',
        },
      ],
    });
  }
  return { text: `${title} - ${approval.action_id}`, blocks };
}

/**
 * Block Kit message for a decided approval: who decided and when, and no buttons (it replaces
 * the pending message in place when the Slack app posted that).
 */
export function decidedSlackMessage(approval: Approval): Record<string, unknown> {
  const title = `Approval ${approval.status}: ${oneLine(approval.action_type, 64)}`;
  const when = approval.decided_at ? ` at ${formatTime(approval.decided_at)}` : '';
  const by = approval.decided_by ? ` by ${mrkdwn(oneLine(approval.decided_by))}${when}` : when;
  const reason = approval.decision_reason ? `\n>${mrkdwn(oneLine(approval.decision_reason, 500))}` : '';
  return {
    text: `${title} - ${approval.action_id}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
      section(`\`${approval.action_id}\` ${approval.status}${by}${reason}`),
    ],
  };
}
