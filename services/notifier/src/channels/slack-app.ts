import type { ChatPostMessageArguments, ErrorCode, WebClient } from '@slack/web-api';
import type pg from 'pg';
import { approversOf, type DirectorySource } from '../approvers.js';
import type { SlackSettings } from '../channel-config.js';
import type { Outcome } from '../outcome.js';
import type { ReviewLinks } from '../review-links.js';
import {
  forgetSlackMessage,
  postedSlackMessage,
  recordSlackMessage,
  withSlackMessageLock,
} from '../store/slack-messages.js';
import { decidedSlackMessage, pendingSlackMessage } from './slack-message.js';
import type { Channel } from './types.js';

export interface SlackAppChannelDeps {
  directory: DirectorySource;
  reviewLinks: ReviewLinks | undefined;
  /** The notifier's store: where each pending message was posted (channel id and ts). */
  pool: pg.Pool;
  timeoutMs: number;
}

/** Slack errors that no retry can fix: the token, the scopes or the channel are wrong. */
const PERMANENT = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'missing_scope',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_blocks',
  'msg_too_long',
  'cant_update_message',
]);

/**
 * The Slack app (a bot token and a channel id, with the official Web API client): a pending
 * approval is posted with Approve and Reject buttons, and where Slack put it (channel and ts)
 * is recorded; its decision, from any door, updates that very message with `chat.update` (who
 * decided, when, no buttons). A decision whose pending message was never posted is posted as
 * its own message. Clicks go to the approval service's Slack door, not here.
 */
export function createSlackAppChannel(settings: SlackSettings, deps: SlackAppChannelDeps): Channel {
  const app = settings.app;
  if (!app) throw new Error(`channel ${settings.name}: not a Slack app channel`);
  // Loaded at the first delivery, not at start: the Web API client and its HTTP stack took about
  // 120 ms of every notifier's start, Slack app or not.
  let webClient: Promise<WebClient> | undefined;
  const slack = () =>
    (webClient ??= import('@slack/web-api').then(
      ({ WebClient }) =>
        new WebClient(app.token.reveal(), {
          slackApiUrl: app.apiUrl,
          timeout: deps.timeoutMs,
          // The notifier's delivery worker retries (with backoff, dead letters and metrics); the
          // client's own retries would hide attempts from it and hold a worker slot for minutes.
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
        }),
    ));
  return {
    name: settings.name,
    kind: 'slack',
    settings,
    // chat.postMessage has no idempotency key: a resend after an unknown outcome could post twice.
    resendsUnknown: false,
    supersededByDecision: true,
    targets: () => [{ key: 'channel', detail: {} }],
    async send({ event }) {
      const approval = event.data;
      try {
        const client = await slack();
        return await withSlackMessageLock(deps.pool, settings.name, approval.action_id, async (db) => {
          if (event.type === 'approval.pending') {
            if (await postedSlackMessage(db, settings.name, approval.action_id)) {
              // Posted before (a replayed event): a second message would show live buttons twice.
              return { result: 'delivered', detail: 'already posted' } satisfies Outcome;
            }
            const approvers = approversOf(approval, deps.directory.current());
            const links = settings.review_buttons ? deps.reviewLinks : undefined;
            const message = pendingSlackMessage(
              approval,
              approvers.map(({ identity, slackUser }) => ({ identity, slackUser })),
              links
                ? approvers.map(({ identity }) => ({ approver: identity, url: links(approval, identity) }))
                : [],
              { decisionButtons: true },
            );
            const posted = await client.chat.postMessage({
              ...(message as Omit<ChatPostMessageArguments, 'channel'>),
              channel: app.channel,
            } as ChatPostMessageArguments);
            if (!posted.ts || !posted.channel) {
              return { result: 'failed', error: 'chat.postMessage returned no ts' } satisfies Outcome;
            }
            try {
              await recordSlackMessage(db, {
                channel: settings.name,
                actionId: approval.action_id,
                slackChannel: posted.channel,
                ts: posted.ts,
              });
            } catch (err) {
              // Posted, but not recorded: a resend would post it twice, so it is not resent (and
              // the decision will be posted as a message of its own).
              return {
                result: 'unknown',
                error: `posted ${posted.ts}, not recorded: ${(err as Error).message}`,
              } satisfies Outcome;
            }
            return { result: 'delivered', detail: `posted ${posted.ts}` } satisfies Outcome;
          }
          const message = decidedSlackMessage(approval);
          const pending = await postedSlackMessage(db, settings.name, approval.action_id);
          if (pending) {
            await client.chat.update({
              channel: pending.slackChannel,
              ts: pending.ts,
              text: message.text as string,
              blocks: message.blocks as never,
            });
            await forgetSlackMessage(db, settings.name, approval.action_id);
            return { result: 'delivered', detail: `updated ${pending.ts}` } satisfies Outcome;
          }
          const posted = await client.chat.postMessage({
            channel: app.channel,
            text: message.text as string,
            blocks: message.blocks as never,
          });
          return { result: 'delivered', detail: `posted ${posted.ts ?? ''}` } satisfies Outcome;
        });
      } catch (err) {
        return classifySlackError(err);
      }
    },
  };
}

/** The client's error codes (its ErrorCode enum, whose values the types check), without loading it. */
const SLACK_ERRORS: {
  platform: `${ErrorCode.PlatformError}`;
  rateLimited: `${ErrorCode.RateLimitedError}`;
  http: `${ErrorCode.HTTPError}`;
  request: `${ErrorCode.RequestError}`;
} = {
  platform: 'slack_webapi_platform_error',
  rateLimited: 'slack_webapi_rate_limited_error',
  http: 'slack_webapi_http_error',
  request: 'slack_webapi_request_error',
};

/** A Web API failure as a delivery outcome: retried unless Slack says the setup is wrong. */
export function classifySlackError(err: unknown): Outcome {
  const e = err as {
    code?: string;
    data?: { error?: string };
    retryAfter?: number;
    statusCode?: number;
    message?: string;
  };
  switch (e.code) {
    case SLACK_ERRORS.platform: {
      const error = e.data?.error ?? 'unknown_error';
      return PERMANENT.has(error)
        ? { result: 'failed', error: `Slack: ${error}` }
        : { result: 'retry', error: `Slack: ${error}` };
    }
    case SLACK_ERRORS.rateLimited:
      return { result: 'retry', error: 'Slack: rate limited', retryAfterMs: (e.retryAfter ?? 1) * 1000 };
    case SLACK_ERRORS.http:
      return { result: 'retry', error: `Slack: HTTP ${e.statusCode ?? '?'}`, status: e.statusCode };
    case SLACK_ERRORS.request:
      return { result: 'retry', error: `Slack: request failed: ${e.message ?? 'network error'}` };
    default:
      // Our own store failed after (or before) the call: retried.
      return { result: 'retry', error: `Slack app: ${e.message ?? String(err)}` };
  }
}
