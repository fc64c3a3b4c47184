import type pg from 'pg';
import type { DirectorySource } from '../approvers.js';
import type { ChannelsConfig, MarkdownSettings } from '../channel-config.js';
import { MarkdownFolder } from '../markdown/folder.js';
import type { ReviewLinks } from '../review-links.js';
import { createEmailChannel } from './email.js';
import type { HttpDeliveryOptions } from './http-delivery.js';
import { createMarkdownChannel } from './markdown.js';
import { createSlackChannel } from './slack.js';
import { createSlackAppChannel } from './slack-app.js';
import type { SmtpSender } from './smtp.js';
import type { Channel } from './types.js';
import { createWebhookChannel } from './webhook.js';

export interface ChannelDeps {
  /** The directory of people: who is asked, and their contacts. */
  directory: DirectorySource;
  /** The notifier's store (markdown channels record the files they write). */
  pool: pg.Pool;
  smtp: SmtpSender | undefined;
  reviewLinks: ReviewLinks | undefined;
  http: HttpDeliveryOptions;
}

export interface BuiltChannels {
  channels: Channel[];
  /** One folder per markdown channel, shared by the channel writing it and the watcher reading it. */
  markdownFolders: { settings: MarkdownSettings; folder: MarkdownFolder }[];
}

/** Turns the configuration into channels; refuses a setup that could not work (no SMTP for email). */
export function buildChannels(config: ChannelsConfig, deps: ChannelDeps): BuiltChannels {
  const markdownFolders: BuiltChannels['markdownFolders'] = [];
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
          directory: deps.directory,
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
        if (settings.app) {
          return createSlackAppChannel(settings, {
            directory: deps.directory,
            reviewLinks: deps.reviewLinks,
            pool: deps.pool,
            timeoutMs: deps.http.timeoutMs,
          });
        }
        return createSlackChannel(settings, {
          directory: deps.directory,
          reviewLinks: deps.reviewLinks,
          http: deps.http,
        });
      case 'markdown': {
        // resolveChannels refused two channels on one folder: a file belongs to one channel.
        const folder = new MarkdownFolder(settings.directory);
        markdownFolders.push({ settings, folder });
        return createMarkdownChannel(settings, folder, deps.pool);
      }
      default:
        return unknownChannel(settings);
    }
  });
  return { channels, markdownFolders };
}

function unknownChannel(settings: never): never {
  throw new Error(`unsupported channel type ${(settings as { type: string }).type}`);
}
