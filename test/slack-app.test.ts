/**
 * The Slack app end to end: the real policy and approval services and the notifier (child
 * processes), the notifier's Slack app channel on the official Web API client pointed at a
 * local Slack, and clicks sent to the approval service's Slack door signed exactly as Slack signs
 * them. Who could claim to be someone else here: anyone who can reach the door (forged or
 * replayed signatures), a Slack member the directory does not know, a known person the policy
 * does not let decide, and a click on a message that already shows a stale state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlackActions } from '@countersign/contracts';
import { spawnService, TEST_DIRECTORY_FILE, waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { testEnv } from '../services/notifier/test/helpers/notifier.js';
import { blockActions, type SlackCall, signedInteraction, startSlackApi } from './slack-api.js';
import { call, httpUrlOf, payment, startSystem } from './support.js';

const SIGNING_SECRET = randomBytes(16).toString('hex');
const BOT_TOKEN = `xoxb-${randomBytes(12).toString('hex')}`;
const SLACK_CHANNEL = 'C0APPROVALS';

/** The test directory with Slack member ids: frank and alice approve payments, eve may not. */
function directoryWithSlack(): string {
  const document = parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8')) as {
    people: Record<string, Record<string, unknown>>;
  };
  for (const [id, user] of Object.entries({ frank: 'U0FRANK', alice: 'U0ALICE', eve: 'U0EVE' })) {
    document.people[id] = { ...document.people[id], slack_user: user };
  }
  const file = join(mkdtempSync(join(tmpdir(), 'slack-directory-')), 'directory.yaml');
  writeFileSync(file, stringify(document));
  return file;
}

const slack = await startSlackApi({ slowPostMs: 1500 });
const directoryFile = directoryWithSlack();
const tokens = {
  alice: `alice-${randomBytes(16).toString('hex')}`,
  dave: `dave-${randomBytes(16).toString('hex')}`,
};
const sys = await startSystem('slack_app', {
  HTTP_PORT: '0',
  REVIEW_LINK_SECRET: randomBytes(32).toString('hex'),
  API_TOKENS: `${tokens.alice}:alice,${tokens.dave}:dave`,
  DIRECTORY_FILE: directoryFile,
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_RESPONSE_URL_PREFIX: `${slack.url}/hooks/`,
});
const base = httpUrlOf(sys.approval) as string;
const channelsFile = join(mkdtempSync(join(tmpdir(), 'slack-channels-')), 'channels.yaml');
writeFileSync(
  channelsFile,
  stringify({
    channels: [
      {
        name: 'approvals-slack',
        type: 'slack',
        token_env: 'SLACK_BOT_TOKEN',
        channel: SLACK_CHANNEL,
        api_url: `${slack.url}/api/`,
      },
    ],
  }),
);
await spawnService('notifier', {
  env: testEnv(sys.db, sys.nats.url, {
    NOTIFIER_CONFIG: channelsFile,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    DIRECTORY_FILE: directoryFile,
    LOG_LEVEL: 'info',
  }),
});

let hooks = 0;
/** A fresh response_url on the local Slack, as Slack gives one per interaction. */
const responseUrl = () => `${slack.url}/hooks/T0TEST/${++hooks}/${randomBytes(6).toString('hex')}`;

/** Posts an interaction to the Slack door. */
async function interact(request: { body: string; headers: Record<string, string> }) {
  const started = Date.now();
  const res = await fetch(`${base}/slack/interactions`, { method: 'POST', ...request });
  return { status: res.status, text: await res.text(), ms: Date.now() - started };
}

/** A pending payment of 1,500 (one finance approval), once its Slack message is posted. */
async function pendingPayment(label: string): Promise<{ id: string; posted: SlackCall; ts: string }> {
  const id = `slack-${label}-${randomBytes(4).toString('hex')}`;
  await call(sys.nc, 'submit', payment(id, 1500));
  return { id, ...(await postedAbout(id)) };
}

/** The chat.postMessage call about `id`, once Slack received it (answered or not). */
async function postedAbout(id: string): Promise<{ posted: SlackCall; ts: string }> {
  const posted = await waitUntil(
    () => slack.callsOf('chat.postMessage').find((c) => String(c.args.text).includes(id)),
    { timeout: 20_000, message: `the Slack message about ${id}` },
  );
  return { posted, ts: posted.ts as string };
}

const statusOf = async (id: string) => (await call(sys.nc, 'get', { action_id: id })).status;

/** The ephemeral answer posted to one response_url. */
const answerAt = (url: string) =>
  waitUntil(() => slack.callsOf(new URL(url).pathname)[0]?.args, {
    timeout: 15_000,
    message: `an answer at ${url}`,
  });

const click = (user: string, action: string, id: string, url = responseUrl(), timestamp?: number) =>
  signedInteraction(
    SIGNING_SECRET,
    blockActions({ user, actionId: action, approval: id, responseUrl: url }),
    timestamp,
  );

describe('the Slack app', () => {
  it('posts a pending approval with the bot token, Approve and Reject buttons', async () => {
    const { id, posted } = await pendingPayment('post');
    expect(posted.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(posted.args.channel).toBe(SLACK_CHANNEL);
    const actions = (
      posted.args.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]
    )
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements ?? []);
    expect(actions.map((a) => [a.action_id, a.value])).toEqual([
      [SlackActions.approve, id],
      [SlackActions.reject, id],
    ]);
  });

  it('refuses forged, unsigned and stale-signed clicks with 401, deciding nothing', async () => {
    const { id } = await pendingPayment('forged');
    const valid = click('U0FRANK', SlackActions.approve, id);
    const forged = signedInteraction(
      'not-the-signing-secret',
      JSON.parse(new URLSearchParams(valid.body).get('payload') as string),
    );
    const tampered = { ...valid, body: valid.body.replace('U0FRANK', 'U0ALICE') };
    const unsigned = { body: valid.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    // A captured valid click, replayed six minutes later: its signature is right, its time is not.
    const replayed = click(
      'U0FRANK',
      SlackActions.approve,
      id,
      responseUrl(),
      Math.floor(Date.now() / 1000) - 360,
    );
    for (const request of [forged, tampered, unsigned, replayed]) {
      const answer = await interact(request);
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.text).error.code).toBe('forbidden');
    }
    expect(await statusOf(id)).toBe('pending');
    const approval = await call(sys.nc, 'get', { action_id: id });
    expect(approval.votes).toEqual([]);
  });

  it('refuses a Slack member the directory does not know, and a person the policy does not let decide', async () => {
    const { id } = await pendingPayment('strangers');
    const strangerUrl = responseUrl();
    expect((await interact(click('U0NOBODY', SlackActions.approve, id, strangerUrl))).status).toBe(200);
    expect((await answerAt(strangerUrl)).text).toContain('not linked to anyone in the Countersign directory');
    const eveUrl = responseUrl();
    expect((await interact(click('U0EVE', SlackActions.approve, id, eveUrl))).status).toBe(200);
    const eve = await answerAt(eveUrl);
    expect(eve).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(eve.text).toMatch(/^Not recorded: /);
    expect(await statusOf(id)).toBe('pending');
  });

  it('decides a valid click as the mapped person, updates the message, and answers a stale click', async () => {
    const { id, ts } = await pendingPayment('click');
    const frankUrl = responseUrl();
    const answer = await interact(click('U0FRANK', SlackActions.approve, id, frankUrl));
    expect(answer.status).toBe(200);
    // Slack's deadline is 3 s; the click is acknowledged before it is decided.
    expect(answer.ms).toBeLessThan(3000);
    expect((await answerAt(frankUrl)).text).toBe(`${id} is approved by frank.`);
    const approval = await call(sys.nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'frank' });

    // The message itself now says who decided and when, with no live buttons.
    const update = await waitUntil(() => slack.callsOf('chat.update').find((c) => c.args.ts === ts), {
      timeout: 20_000,
      message: `chat.update of ${ts}`,
    });
    expect(update.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(update.args.channel).toBe(SLACK_CHANNEL);
    expect(JSON.stringify(update.args.blocks)).toContain('approved by frank at ');
    expect((update.args.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);

    // alice's click on the same (stale) button decides nothing and tells her who did.
    const aliceUrl = responseUrl();
    expect((await interact(click('U0ALICE', SlackActions.reject, id, aliceUrl))).status).toBe(200);
    expect((await answerAt(aliceUrl)).text).toMatch(/^Already decided by frank: approved at /);
    expect(await call(sys.nc, 'get', { action_id: id })).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
    });

    // The audit history records that the vote came through Slack.
    const { rows } = await sys.pool.query(
      `select data from approval.audit_events where action_id = $1 and event = 'voted'`,
      [id],
    );
    expect(rows[0]?.data).toMatchObject({ relayed_by: 'slack', channel: 'slack' });
  });

  it('updates the Slack message when the decision is taken through another door', async () => {
    const { id, ts } = await pendingPayment('elsewhere');
    const res = await fetch(`${base}/api/v1/approvals/${id}/decide`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ approved: false, reason: 'not this month' }),
    });
    expect(res.status).toBe(200);
    const update = await waitUntil(() => slack.callsOf('chat.update').find((c) => c.args.ts === ts), {
      timeout: 20_000,
      message: `chat.update of ${ts}`,
    });
    expect(JSON.stringify(update.args.blocks)).toContain('rejected by alice at ');
    expect((update.args.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);
  });

  it('updates the message a decision overtook: the post was still in flight when the decision came', async () => {
    const id = `slack-slow-${randomBytes(4).toString('hex')}`;
    await call(sys.nc, 'submit', payment(id, 1500));
    const { ts } = await postedAbout(id);
    // Slack has the message but has not answered yet: the decision arrives meanwhile.
    const res = await fetch(`${base}/api/v1/approvals/${id}/decide`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ approved: true }),
    });
    expect(res.status).toBe(200);
    const update = await waitUntil(() => slack.callsOf('chat.update').find((c) => c.args.ts === ts), {
      timeout: 20_000,
      message: `chat.update of ${ts}`,
    });
    expect(JSON.stringify(update.args.blocks)).toContain('approved by alice at ');
    // One message about it, updated in place: no second message with the decision.
    expect(slack.callsOf('chat.postMessage').filter((c) => String(c.args.text).includes(id))).toHaveLength(1);
  });
});
