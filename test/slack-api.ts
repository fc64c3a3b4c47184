/**
 * A local Slack for tests: answers the Web API methods the notifier's Slack app calls
 * (`chat.postMessage`, `chat.update`, `chat.postEphemeral`) as Slack documents them, and takes the
 * answers the approval service posts to interaction `response_url`s (under `/hooks/`). Every call
 * is kept for assertions. Also signs interaction payloads exactly as Slack does.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onFileEnd } from '@countersign/test-fixtures';

export interface SlackCall {
  method: string;
  /** The Authorization header (the bot token), for Web API calls. */
  authorization: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: Slack arguments of any shape; tests assert on them.
  args: Record<string, any>;
  /** The ts Slack gave a posted message. */
  ts?: string;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Web API arguments: form-encoded (what the WebClient sends; `blocks` is a JSON string) or JSON. */
function argsOf(req: IncomingMessage, text: string): Record<string, unknown> {
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) return JSON.parse(text || '{}');
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    args[key] = key === 'blocks' || key === 'attachments' ? JSON.parse(value) : value;
  }
  return args;
}

/**
 * `slowPostMs`: how long chat.postMessage takes to answer for messages whose text contains
 * `-slow-` (a post still in flight when the decision arrives).
 */
export async function startSlackApi(options: { slowPostMs?: number } = {}) {
  const calls: SlackCall[] = [];
  let seq = 0;
  const server = createServer(async (req, res) => {
    const text = await bodyOf(req);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const answer = (body: unknown) => {
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(body));
    };
    if (path.startsWith('/hooks/')) {
      calls.push({ method: path, authorization: undefined, args: JSON.parse(text || '{}') });
      res.end('ok');
      return;
    }
    const method = path.replace(/^\/api\//, '');
    const args = argsOf(req, text);
    const call: SlackCall = { method, authorization: req.headers.authorization, args };
    calls.push(call);
    switch (method) {
      case 'chat.postMessage': {
        seq += 1;
        const ts = `1700000000.${String(seq).padStart(6, '0')}`;
        call.ts = ts;
        if (String(args.text).includes('-slow-') && options.slowPostMs) {
          await new Promise((resolve) => setTimeout(resolve, options.slowPostMs));
        }
        answer({ ok: true, channel: args.channel, ts, message: { text: args.text, ts } });
        return;
      }
      case 'chat.update':
        answer({ ok: true, channel: args.channel, ts: args.ts, text: args.text });
        return;
      case 'chat.postEphemeral':
        answer({ ok: true, message_ts: `1700000001.${String(++seq).padStart(6, '0')}` });
        return;
      default:
        answer({ ok: false, error: 'unknown_method' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  onFileEnd(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url,
    calls,
    /** Calls of one Web API method (or to one response_url path). */
    callsOf: (method: string) => calls.filter((c) => c.method === method),
  };
}

export type SlackApi = Awaited<ReturnType<typeof startSlackApi>>;

/**
 * An interaction request as Slack sends it: `payload=<JSON>` form-encoded, signed v0 over
 * `v0:<timestamp>:<body>` with the signing secret.
 */
export function signedInteraction(
  secret: string,
  payload: unknown,
  timestamp = Math.floor(Date.now() / 1000),
): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
    },
  };
}

/** A `block_actions` payload: `user` clicked the button `actionId` (value: the approval) on a message. */
export function blockActions(options: {
  user: string;
  actionId: string;
  approval: string;
  responseUrl: string;
  channel?: string;
  ts?: string;
}) {
  return {
    type: 'block_actions',
    team: { id: 'T0TEST', domain: 'countersign-test' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    container: {
      type: 'message',
      message_ts: options.ts ?? '1700000000.000001',
      channel_id: options.channel ?? 'C0APPROVALS',
    },
    channel: { id: options.channel ?? 'C0APPROVALS', name: 'approvals' },
    trigger_id: '1.2.3',
    response_url: options.responseUrl,
    actions: [
      {
        type: 'button',
        block_id: 'countersign_decision',
        action_id: options.actionId,
        value: options.approval,
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
}
