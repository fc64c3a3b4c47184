/**
 * The Slack door: `POST /slack/interactions`, the Request URL of the Slack app's interactivity.
 * A click on Approve or Reject (posted by the notifier's Slack app channel) becomes a vote
 * through the same lifecycle as every other door: `decide`, with `policy.authorize`.
 *
 * Who clicked is proven by Slack, not by the payload alone: the request must carry a valid v0
 * signature of its raw body made with the app's signing secret, within five minutes (a captured
 * request cannot be replayed later), and the Slack member id must be a person's `slack_user` in
 * the directory. Slack wants an answer within 3 seconds, so the click is acknowledged at once and
 * decided after; the outcome goes back to the clicker as an ephemeral message on the click's
 * `response_url`. The message itself is updated by the notifier, from the decided event, for a
 * decision from any door.
 */
import type { ServerResponse } from 'node:http';
import { type Approval, CountersignError, SlackActions } from '@countersign/contracts';
import { coerceError, type Secret } from '@countersign/runtime';
import { z } from 'zod';
import { decide } from '../lifecycle/index.js';
import type { HttpApp, Route } from './app.js';
import { HttpRefusal, readBody } from './io.js';
import { verifySlackSignature } from './slack-signature.js';

export interface SlackDoorSettings {
  /** The Slack app's signing secret (Basic Information → App Credentials). */
  signingSecret: Secret<string>;
  /**
   * Answers are posted only to `response_url`s starting with this (Slack's own hooks host by
   * default): the URL comes in the request, and a signed request is still no reason to post
   * anywhere else.
   */
  responseUrlPrefix: string;
  /** Per answer posted to a response_url. */
  responseTimeoutMs: number;
}

/** The part of a `block_actions` payload the door reads; Slack sends much more. */
const BlockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1).max(64) }),
  response_url: z.string().url().max(2048).optional(),
  actions: z
    .array(z.object({ action_id: z.string().max(255), value: z.string().max(2000).optional() }))
    .min(1),
});

/** An Approve or Reject click, read from a verified payload. */
export interface SlackClick {
  slackUser: string;
  actionId: string;
  approved: boolean;
  responseUrl: string | undefined;
}

/** The click in a verified payload, or undefined for an interaction that is not ours. */
export function clickOf(payload: unknown): SlackClick | undefined {
  const parsed = BlockActions.safeParse(payload);
  if (!parsed.success) return undefined;
  const action = parsed.data.actions[0];
  if (!action?.value) return undefined;
  const approved =
    action.action_id === SlackActions.approve
      ? true
      : action.action_id === SlackActions.reject
        ? false
        : undefined;
  if (approved === undefined) return undefined;
  return {
    slackUser: parsed.data.user.id,
    actionId: action.value,
    approved,
    responseUrl: parsed.data.response_url,
  };
}

/** What the clicker is told, privately, once the click is decided (or refused). */
export function answerText(
  outcome: { approval: Approval; identity: string } | { error: CountersignError },
): string {
  if ('approval' in outcome) {
    const { approval, identity } = outcome;
    if (approval.status === 'pending') {
      const approvals = approval.votes.filter((v) => v.approved).length;
      return `Your approval of ${approval.action_id} is recorded (${approvals} of ${approval.required_approvals}), as ${identity}.`;
    }
    return `${approval.action_id} is ${approval.status} by ${approval.decided_by}.`;
  }
  const { error } = outcome;
  const details = (error.details ?? {}) as { status?: string; decided_by?: string; decided_at?: string };
  if (error.code === 'already_decided') {
    return `Already decided by ${details.decided_by ?? 'someone else'}: ${details.status ?? 'closed'} at ${details.decided_at ?? 'an earlier time'}.`;
  }
  if (error.code === 'expired') return 'This approval expired: it can no longer be decided.';
  return `Not recorded: ${error.message}`;
}

/** The door's route, and a wait for the clicks it acknowledged but has not decided yet. */
export interface SlackDoor {
  routes: Route[];
  /** Resolves once every acknowledged click is decided and answered: shutdown waits for it. */
  settled(): Promise<void>;
}

export function slackDoor(app: HttpApp, slack: SlackDoorSettings): SlackDoor {
  const logger = app.logger.child({ door: 'slack' });
  // Clicks acknowledged to Slack and still being decided: a shutdown must not drop them.
  const inFlight = new Set<Promise<void>>();

  /** Posts an ephemeral answer to the click's response_url; a failure is logged, never thrown. */
  const answer = async (click: Pick<SlackClick, 'responseUrl' | 'actionId'>, text: string) => {
    const url = click.responseUrl;
    if (!url) return;
    if (!url.startsWith(slack.responseUrlPrefix)) {
      logger.warn(
        { action_id: click.actionId },
        'Slack response_url outside SLACK_RESPONSE_URL_PREFIX: not answered',
      );
      return;
    }
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
        redirect: 'error',
        signal: AbortSignal.timeout(slack.responseTimeoutMs),
      });
      await res.body?.cancel();
      if (!res.ok) logger.warn({ action_id: click.actionId, status: res.status }, 'Slack refused an answer');
    } catch (err) {
      logger.warn({ action_id: click.actionId, err }, 'could not answer a Slack click');
    }
  };

  /** The vote, after the acknowledgement: any outcome ends as an answer to the clicker. */
  const decideClick = async (click: SlackClick, identity: string) => {
    let text: string;
    try {
      const approval = await decide(
        app.deps,
        {
          action_id: click.actionId,
          approved: click.approved,
          // Recorded with the vote: the audit history says the vote came through Slack.
          relay: { by: 'slack', channel: 'slack' },
        },
        identity,
      );
      text = answerText({ approval, identity });
    } catch (err) {
      const error = err instanceof CountersignError ? err : coerceError(err);
      if (error.code === 'internal') logger.error({ err, action_id: click.actionId }, 'Slack click failed');
      app.metrics.commandError('http', 'slack_interaction', error.code);
      text = answerText({ error });
    }
    await answer(click, text);
  };

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/slack/interactions',
      name: 'slack_interaction',
      kind: 'api',
      handle: async ({ req, res }) => {
        const body = await readBody(req, res, app.settings.bodyLimit);
        const header = (name: string) => {
          const value = req.headers[name];
          return typeof value === 'string' ? value : undefined;
        };
        const check = verifySlackSignature(
          slack.signingSecret.reveal(),
          { signature: header('x-slack-signature'), timestamp: header('x-slack-request-timestamp') },
          body,
          Math.floor(Date.now() / 1000),
        );
        if (!check.ok) {
          logger.warn({ reason: check.reason }, 'Slack request refused: not signed by Slack');
          throw new HttpRefusal(401, 'forbidden', 'the request is not signed by Slack', {
            reason: check.reason,
          });
        }
        const click = clickOf(parsePayload(body));
        if (!click) {
          // Another interaction of the app (or one Countersign does not handle): nothing to do.
          acknowledge(res);
          return;
        }
        const person = app.directory().identityOfSlackUser(click.slackUser);
        acknowledge(res);
        if (!person) {
          logger.warn(
            { slack_user: click.slackUser, action_id: click.actionId },
            'Slack click by an unknown member',
          );
          await answer(
            click,
            `Not recorded: your Slack account (${click.slackUser}) is not linked to anyone in the Countersign directory.`,
          );
          return;
        }
        // Not awaited: Slack's 3-second deadline includes the policy call and the write.
        const decided = decideClick(click, person.id).finally(() => inFlight.delete(decided));
        inFlight.add(decided);
      },
    },
  ];
  return {
    routes,
    settled: async () => {
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Slack posts interactions form-encoded, the JSON in one `payload` field. */
function parsePayload(body: Buffer): unknown {
  const payload = new URLSearchParams(body.toString('utf8')).get('payload');
  if (payload === null) {
    throw new CountersignError(
      'invalid_request',
      'invalid request: a Slack interaction carries a payload field',
      {
        fields: [{ path: 'payload', message: 'required' }],
      },
    );
  }
  try {
    return JSON.parse(payload);
  } catch {
    throw new CountersignError('invalid_request', 'invalid request: payload is not JSON', {
      fields: [{ path: 'payload', message: 'not JSON' }],
    });
  }
}

/** Slack's acknowledgement: an empty 200 (its body would replace nothing for block actions). */
function acknowledge(res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('Content-Length', '0');
  res.end();
}
