import { askedApprovers, asksToDecide, type DirectorySource } from '../approvers.js';
import type { SlackSettings } from '../channel-config.js';
import type { ReviewLinks } from '../review-links.js';
import { type HttpDeliveryOptions, postJson } from './http-delivery.js';
import { decidedSlackMessage, pendingSlackMessage } from './slack-message.js';
import type { Channel } from './types.js';

export interface SlackChannelDeps {
  directory: DirectorySource;
  reviewLinks: ReviewLinks | undefined;
  http: HttpDeliveryOptions;
}

/**
 * A Slack incoming webhook: an unsigned POST of a Block Kit message naming the approvers (a
 * mention for those with a `slack_user` in the directory). Review buttons are personal links
 * that anyone in the Slack channel could open, so they are sent only when configured.
 */
export function createSlackChannel(settings: SlackSettings, deps: SlackChannelDeps): Channel {
  return {
    name: settings.name,
    kind: 'slack',
    settings,
    // Slack has no idempotency key: a resend after an unknown outcome would post twice.
    resendsUnknown: false,
    supersededByDecision: true,
    targets: () => [{ key: 'channel', detail: {} }],
    async send({ event }) {
      const approval = event.data;
      let message: Record<string, unknown>;
      if (asksToDecide(event)) {
        const approvers = askedApprovers(event, deps.directory.current());
        const links = settings.review_buttons ? deps.reviewLinks : undefined;
        message = pendingSlackMessage(
          approval,
          approvers.map(({ identity, slackUser }) => ({ identity, slackUser })),
          links
            ? approvers.map(({ identity }) => ({ approver: identity, url: links(approval, identity) }))
            : [],
        );
      } else {
        message = decidedSlackMessage(approval);
      }
      return postJson(settings.url.reveal(), JSON.stringify(message), {}, deps.http);
    },
  };
}
