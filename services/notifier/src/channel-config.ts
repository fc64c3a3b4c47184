import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ApprovalEventType, Risk } from '@countersign/contracts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Secret, urlSecrets } from './secret.js';

const ChannelName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "." or "-"');
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** Which events a channel receives; every list is optional and an absent list matches everything. */
const Filter = z.strictObject({
  events: z.array(ApprovalEventType).min(1).optional(),
  action_types: z.array(z.string().min(1)).min(1).optional(),
  risks: z.array(Risk).min(1).optional(),
});
export type ChannelFilter = z.infer<typeof Filter>;

const common = {
  name: ChannelName,
  /**
   * `all`: every event that passes the filter. `notify`: only approvals whose policy decision
   * names this channel in `notify` (the policy routes, e.g. `finance`, `ops`, `security`).
   */
  route: z.enum(['all', 'notify']).default('all'),
  filter: Filter.default({}),
};

const EmailChannelConfig = z.strictObject({
  ...common,
  type: z.literal('email'),
  from: z.email(),
  from_name: z.string().min(1).max(128).default('Countersign'),
  /** Fixed recipients: they get every matching event, without personal review links. */
  to: z.array(z.email()).default([]),
  /** Pending approvals go to each person holding one of `policy.approver_roles`, with their own link. */
  approvers: z.boolean().default(true),
  /** Decided approvals go to the requester, when the directory has their address. */
  requester: z.boolean().default(false),
});

const WebhookChannelConfig = z.strictObject({
  ...common,
  type: z.literal('webhook'),
  /** The endpoint; or `url_env` when the URL itself carries a token. */
  url: z.url().optional(),
  url_env: EnvName.optional(),
  /** Environment variable holding the Standard Webhooks secret `whsec_<base64>`. */
  secret_env: EnvName,
});

const SlackChannelConfig = z.strictObject({
  ...common,
  type: z.literal('slack'),
  /** Environment variable holding the incoming-webhook URL (the URL is the credential). */
  url_env: EnvName.optional(),
  /**
   * The Slack app instead of a webhook: the environment variable holding its bot token
   * (`xoxb-…`). Messages then carry Approve and Reject buttons (handled by the approval
   * service's Slack door) and are updated in place once the approval is decided, from any door.
   */
  token_env: EnvName.optional(),
  /** The Slack channel id (`C…`) the app posts to; required with `token_env`. */
  channel: z
    .string()
    .regex(/^[CGD][A-Z0-9]{2,}$/, 'must be a Slack channel id such as C0123ABCD')
    .optional(),
  /** The Slack Web API base URL (tests point it at a local server). */
  api_url: z.url().default('https://slack.com/api/'),
  /**
   * A Review button per approver. Off by default: a button is a personal review link, and
   * anyone in the Slack channel can open any button, so turn it on only where every member of
   * the Slack channel is an approver.
   */
  review_buttons: z.boolean().default(false),
});

const MarkdownChannelConfig = z.strictObject({
  ...common,
  type: z.literal('markdown'),
  /**
   * Directory that receives `approval_<action_id>.md` files; relative to the channels file. One
   * channel per directory: a decision in a file counts only for the channel that wrote it, and
   * only for people whose directory entry lists the channel's name in `channels`.
   */
  directory: z.string().min(1),
  /** Watch the files for decisions written into them. One replica should watch a directory. */
  watch: z.boolean().default(true),
});

const ChannelConfig = z.discriminatedUnion('type', [
  EmailChannelConfig,
  WebhookChannelConfig,
  SlackChannelConfig,
  MarkdownChannelConfig,
]);

/** Keys that moved to the directory (DIRECTORY_FILE): a file still holding them is refused. */
const MOVED_TO_DIRECTORY = ['people', 'roles'] as const;

export const ChannelsFile = z
  .strictObject({
    channels: z.array(ChannelConfig).min(1),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.channels.forEach((channel, index) => {
      if (seen.has(channel.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels', index, 'name'],
          message: 'duplicate channel name',
        });
      }
      seen.add(channel.name);
      if (channel.type === 'slack') {
        if ((channel.url_env === undefined) === (channel.token_env === undefined)) {
          ctx.addIssue({
            code: 'custom',
            path: ['channels', index],
            message: 'give exactly one of url_env (incoming webhook), token_env (Slack app)',
          });
        } else if (channel.token_env !== undefined && channel.channel === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['channels', index, 'channel'],
            message: 'required with token_env (the Slack channel id the app posts to)',
          });
        }
      }
      if (channel.type === 'webhook' && (channel.url === undefined) === (channel.url_env === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels', index],
          message: 'give exactly one of url, url_env',
        });
      }
    });
  });
export type ChannelsFile = z.infer<typeof ChannelsFile>;

type EmailChannelConfig = z.infer<typeof EmailChannelConfig>;
type WebhookChannelConfig = z.infer<typeof WebhookChannelConfig>;
type SlackChannelConfig = z.infer<typeof SlackChannelConfig>;
type MarkdownChannelConfig = z.infer<typeof MarkdownChannelConfig>;

/** Channel settings with secrets read from the environment. */
export type EmailSettings = EmailChannelConfig;
export type WebhookSettings = Omit<WebhookChannelConfig, 'url' | 'url_env' | 'secret_env'> & {
  url: Secret<string>;
  /** The decoded signing key (the base64 part of `whsec_…`). */
  key: Secret<Buffer>;
};
/** A Slack channel: an incoming webhook (`url`), or the Slack app (`app`: bot token, channel id, API URL). */
export type SlackSettings = Omit<SlackChannelConfig, 'url_env' | 'token_env' | 'channel' | 'api_url'> & {
  url: Secret<string>;
  app: { token: Secret<string>; channel: string; apiUrl: string } | undefined;
};
export type MarkdownSettings = MarkdownChannelConfig;
export type ChannelSettings = EmailSettings | WebhookSettings | SlackSettings | MarkdownSettings;

export interface ChannelsConfig {
  channels: ChannelSettings[];
  /** Every secret value the channels hold, for scrubbing error text. */
  secrets: string[];
}

export class ChannelsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelsConfigError';
  }
}

export interface ResolveOptions {
  allowHttp: boolean;
  /** Relative markdown directories are resolved against this (the channels file's directory). */
  baseDir?: string;
}

/** Reads the channels file (YAML, or JSON which is YAML too) and resolves its secrets from `env`. */
export function loadChannelsFile(
  path: string,
  env: NodeJS.ProcessEnv,
  options: ResolveOptions,
): ChannelsConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ChannelsConfigError(`cannot read channels file ${path}: ${(err as Error).message}`);
  }
  return resolveChannels(raw, env, { ...options, baseDir: dirname(resolve(path)) }, path);
}

/** Validates a parsed channels document and reads the secrets it names from `env`. */
export function resolveChannels(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  options: ResolveOptions,
  source = 'channels file',
): ChannelsConfig {
  const moved = MOVED_TO_DIRECTORY.filter(
    (key) => typeof raw === 'object' && raw !== null && Object.hasOwn(raw, key),
  );
  if (moved.length > 0) {
    // Who people are and which roles they hold is the directory's alone: a second list here
    // could only drift from it. Refused rather than ignored, so nobody is left thinking it counts.
    throw new ChannelsConfigError(
      `invalid ${source}: ${moved.join(' and ')} moved to the directory (DIRECTORY_FILE); remove ${
        moved.length > 1 ? 'them' : 'it'
      } from the channels file and give people their email, slack_user, roles and channels there`,
    );
  }
  const parsed = ChannelsFile.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ChannelsConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  const problems: string[] = [];
  const secrets: string[] = [];
  const readEnv = (channel: string, name: string): string | undefined => {
    const value = env[name];
    if (!value) problems.push(`  channel ${channel}: environment variable ${name} is not set`);
    return value || undefined;
  };
  const checkUrl = (channel: string, url: string | undefined, what: string): Secret<string> => {
    if (url !== undefined) {
      secrets.push(...urlSecrets(url));
      let protocol = '';
      try {
        protocol = new URL(url).protocol;
      } catch {
        problems.push(`  channel ${channel}: ${what} is not a URL`);
      }
      if (protocol && protocol !== 'https:' && !(protocol === 'http:' && options.allowHttp)) {
        problems.push(`  channel ${channel}: ${what} must be https (http needs WEBHOOK_ALLOW_HTTP=true)`);
      }
    }
    return new Secret(url ?? '');
  };

  const markdownOwners = new Map<string, string>();
  const channels = parsed.data.channels.map((channel): ChannelSettings => {
    switch (channel.type) {
      case 'webhook': {
        const { url: inlineUrl, url_env, secret_env, ...rest } = channel;
        const url = inlineUrl ?? (url_env ? readEnv(channel.name, url_env) : undefined);
        const secret = readEnv(channel.name, secret_env);
        let key: Buffer = Buffer.alloc(0);
        if (secret !== undefined) {
          secrets.push(secret, secret.slice('whsec_'.length));
          const decoded = decodeWebhookSecret(secret);
          if (decoded) key = decoded;
          else
            problems.push(
              `  channel ${channel.name}: ${secret_env} must be whsec_ followed by 24-64 base64-encoded bytes`,
            );
        }
        return { ...rest, url: checkUrl(channel.name, url, 'url'), key: new Secret(key) };
      }
      case 'slack': {
        const { url_env, token_env, channel: slackChannel, api_url, ...rest } = channel;
        if (token_env !== undefined && slackChannel !== undefined) {
          const token = readEnv(channel.name, token_env);
          if (token !== undefined) secrets.push(token);
          // Not a secret (the token is): only its scheme is checked, as for every URL here.
          if (new URL(api_url).protocol !== 'https:' && !options.allowHttp) {
            problems.push(
              `  channel ${channel.name}: api_url must be https (http needs WEBHOOK_ALLOW_HTTP=true)`,
            );
          }
          return {
            ...rest,
            url: new Secret(''),
            app: { token: new Secret(token ?? ''), channel: slackChannel, apiUrl: api_url },
          };
        }
        const name = url_env as string;
        return { ...rest, url: checkUrl(channel.name, readEnv(channel.name, name), name), app: undefined };
      }
      case 'markdown': {
        const directory = resolve(options.baseDir ?? '.', channel.directory);
        const sharing = markdownOwners.get(directory);
        if (sharing) {
          problems.push(
            `  channel ${channel.name}: directory ${channel.directory} is also channel ${sharing}'s (one markdown channel per directory)`,
          );
        }
        markdownOwners.set(directory, channel.name);
        return { ...channel, directory };
      }
      default:
        return channel;
    }
  });
  if (problems.length > 0) throw new ChannelsConfigError(`invalid ${source}:\n${problems.join('\n')}`);
  return { channels, secrets };
}

/** Standard Webhooks secrets are `whsec_` + base64 of 24 to 64 random bytes. */
export function decodeWebhookSecret(secret: string): Buffer | undefined {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!match?.[1]) return undefined;
  const key = Buffer.from(match[1], 'base64');
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}
