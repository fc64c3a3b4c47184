import { resolve } from 'node:path';
import type { ChannelsConfig } from '../channel-config.js';
import { MarkdownDirectory } from '../markdown/directory.js';
import type { ReviewLinks } from '../review-links.js';
import { createEmailChannel } from './email.js';
import type { HttpDeliveryOptions } from './http-delivery.js';
import { createMarkdownChannel } from './markdown.js';
import { createSlackChannel } from './slack.js';
import type { SmtpSender } from './smtp.js';
import type { Channel } from './types.js';
import { createWebhookChannel } from './webhook.js';

export interface ChannelDeps {
  smtp: SmtpSender | undefined;
  reviewLinks: ReviewLinks | undefined;
  http: HttpDeliveryOptions;
}

export interface BuiltChannels {
  channels: Channel[];
  /** One per directory, shared by the channel writing it and the watcher reading it. */
  markdownDirectories: Map<string, { directory: MarkdownDirectory; watch: boolean }>;
}

/** Turns the configuration into channels; refuses a setup that could not work (no SMTP for email). */
export function buildChannels(config: ChannelsConfig, deps: ChannelDeps): BuiltChannels {
  const markdownDirectories = new Map<string, { directory: MarkdownDirectory; watch: boolean }>();
  const channels = config.channels.map((settings): Channel => {
    switch (settings.type) {
      case 'email': {
        if (!deps.smtp) throw new Error(`channel ${settings.name}: email needs SMTP_URL`);
        if (settings.approvers && !deps.reviewLinks) {
          throw new Error(
            `channel ${settings.name}: review links need PUBLIC_URL and REVIEW_LINK_SECRET (or set approvers: false)`,
          );
        }
        return createEmailChannel(settings, {
          directory: config.directory,
          smtp: deps.smtp,
          reviewLinks: deps.reviewLinks,
        });
      }
      case 'webhook':
        return createWebhookChannel(settings, deps.http);
      case 'slack':
        if (settings.review_buttons && !deps.reviewLinks) {
          throw new Error(
            `channel ${settings.name}: review buttons need PUBLIC_URL and REVIEW_LINK_SECRET (or set review_buttons: false)`,
          );
        }
        return createSlackChannel(settings, {
          directory: config.directory,
          reviewLinks: deps.reviewLinks,
          http: deps.http,
        });
      case 'markdown': {
        const path = resolve(settings.directory);
        const entry = markdownDirectories.get(path) ?? {
          directory: new MarkdownDirectory(path),
          watch: false,
        };
        entry.watch ||= settings.watch;
        markdownDirectories.set(path, entry);
        return createMarkdownChannel(settings, entry.directory);
      }
      default:
        return unknownChannel(settings);
    }
  });
  return { channels, markdownDirectories };
}

function unknownChannel(settings: never): never {
  throw new Error(`unsupported channel type ${(settings as { type: string }).type}`);
}
