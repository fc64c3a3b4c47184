import { createHash } from 'node:crypto';
import type { ApprovalEvent } from '@countersign/contracts';
import { askedApprovers, asksToDecide, type DirectorySource, emailOf } from '../approvers.js';
import type { EmailSettings } from '../channel-config.js';
import type { ReviewLinks } from '../review-links.js';
import { renderDecidedEmail, renderPendingEmail } from './email-content.js';
import type { MailMessage, SmtpSender } from './smtp.js';
import type { Channel, Target } from './types.js';

export interface EmailChannelDeps {
  directory: DirectorySource;
  smtp: SmtpSender;
  reviewLinks: ReviewLinks | undefined;
}

/**
 * Email: one message per recipient. Pending approvals go to each approver with their own
 * review link (and to the fixed `to` list without one); decided approvals go to `to` and,
 * when enabled, to the requester.
 */
export function createEmailChannel(settings: EmailSettings, deps: EmailChannelDeps): Channel {
  const targets = (event: ApprovalEvent): Target[] => {
    const approval = event.data;
    const directory = deps.directory.current();
    const byAddress = new Map<string, Target>();
    const add = (email: string, identity?: string) => {
      const key = email.toLowerCase();
      if (!byAddress.has(key))
        byAddress.set(key, { key, detail: identity ? { email, identity } : { email } });
    };
    if (asksToDecide(event)) {
      if (settings.approvers) {
        for (const approver of askedApprovers(event, directory)) {
          if (approver.email) add(approver.email, approver.identity);
        }
      }
    } else if (settings.requester) {
      const email = emailOf(approval.requested_by, directory);
      if (email) add(email);
    }
    // A reminder is personal: the fixed list got the request already.
    if (event.type !== 'approval.reminder') for (const email of settings.to) add(email);
    return [...byAddress.values()];
  };

  return {
    name: settings.name,
    kind: 'email',
    settings,
    // An SMTP server has no idempotency key: a resend after an unknown outcome could be a
    // second email in someone's inbox, so it is left to an operator (dlq replay).
    resendsUnknown: false,
    supersededByDecision: true,
    targets,
    async send({ event, target }) {
      const approval = event.data;
      const email = target.detail.email;
      if (!email) return { result: 'failed', error: 'delivery has no email address' };
      const identity = target.detail.identity;
      const content = asksToDecide(event)
        ? renderPendingEmail(approval, {
            ...(identity && deps.reviewLinks
              ? { review: { url: deps.reviewLinks(approval, identity), approver: identity } }
              : {}),
            ...(event.type === 'approval.reminder' || event.type === 'approval.escalated'
              ? { follow_up: event.type }
              : {}),
          })
        : renderDecidedEmail(approval);
      const message: MailMessage = {
        from: { name: settings.from_name, address: settings.from },
        to: email,
        ...content,
        messageId: messageIdFor(event.id, settings.name, target.key, settings.from),
        headers: {
          'Auto-Submitted': 'auto-generated',
          'X-Countersign-Action-Id': approval.action_id,
          'X-Countersign-Event': event.type,
        },
      };
      return deps.smtp.send(message);
    },
  };
}

/** One Message-ID per (event, channel, recipient), so a replayed email threads as the same message. */
function messageIdFor(eventId: string, channel: string, target: string, from: string): string {
  const hash = createHash('sha256').update(`${eventId}\n${channel}\n${target}`).digest('hex').slice(0, 32);
  const domain = from.split('@')[1] ?? 'countersign.invalid';
  return `<${hash}@${domain}>`;
}
