import type { Directory, SlackSettings } from '../channel-config.js';
import { approversOf } from '../directory.js';
import type { ReviewLinks } from '../review-links.js';
import { type HttpDeliveryOptions, postJson } from './http-delivery.js';
import { decidedSlackMessage, pendingSlackMessage } from './slack-message.js';
import type { Channel } from './types.js';

export interface SlackChannelDeps {
  directory: Directory;
  reviewLinks: ReviewLinks | undefined;
  http: HttpDeliveryOptions;
}

/** A Slack incoming webhook: an unsigned POST of a Block Kit message. */
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
      const message =
        event.type === 'approval.pending'
          ? pendingSlackMessage(
              approval,
              settings.review_buttons && deps.reviewLinks
                ? approversOf(approval, deps.directory).map(({ identity }) => ({
                    approver: identity,
                    url: (deps.reviewLinks as ReviewLinks)(approval, identity),
                  }))
                : [],
            )
          : decidedSlackMessage(approval);
      return postJson(settings.url.reveal(), JSON.stringify(message), {}, deps.http);
    },
  };
}
