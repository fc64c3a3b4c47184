import { z } from 'zod';

/**
 * The directory file as ops write it (YAML or JSON). Keys are identities; they are
 * canonicalised when the file is loaded (see ./directory.ts), so "Frank" and "frank" are one
 * entry and a file naming both is refused.
 */

const Name = z.string().min(1).max(256);
const Email = z.email().max(320);
const Roles = z.array(z.string().min(1).max(64)).default([]);

/** How an OpenID Connect sign-in maps to this entry: by the issuer's `sub`, or a verified email. */
const Oidc = z.strictObject({
  subject: z.string().min(1).max(255).optional(),
  email: Email.optional(),
});

const Person = z.strictObject({
  /** Display name for emails, Slack and the dashboard. */
  name: Name.optional(),
  email: Email.optional(),
  roles: Roles,
  /** Slack member id (`U…`), for mentions and for mapping Slack actions to this person. */
  slack_user: z
    .string()
    .regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack member id such as U0123ABCD')
    .optional(),
  /** The NATS user this person authenticates as; the identity itself when absent. */
  nats_user: z.string().min(1).max(256).optional(),
  oidc: Oidc.optional(),
  /** Action types this person may request; any when absent (people pause tasks, ask ad hoc). */
  may_request: z.array(z.string().min(1).max(64)).optional(),
  /**
   * File-based channels (markdown folders, by channel name) where an edit of a file the notifier
   * wrote counts as this person's decision. None when absent.
   */
  channels: z.array(z.string().min(1).max(128)).default([]),
});

const Service = z.strictObject({
  name: Name.optional(),
  /** The NATS user this system authenticates as; the identity itself when absent. */
  nats_user: z.string().min(1).max(256).optional(),
  roles: Roles,
  /** Action types this system may request (`"*"` for any). None when absent: fail closed. */
  may_request: z.array(z.string().min(1).max(64)).default([]),
  /**
   * May record decisions people made on a channel it serves (the notifier, for markdown
   * folders): only for a person whose `channels` lists that channel.
   */
  relays_decisions: z.boolean().default(false),
  /**
   * Requesting systems this one acts for (the MCP gateway, for the agents it authenticates over
   * HTTP): its NATS user may publish their actor-bound commands and intake, so it can request,
   * report and resume as each of them and as nobody else. Each must be a service of this file.
   */
  acts_for: z.array(z.string().min(1).max(256)).default([]),
});

export const DirectoryFile = z.strictObject({
  people: z.record(z.string(), Person).default({}),
  services: z.record(z.string(), Service).default({}),
});
export type DirectoryFile = z.infer<typeof DirectoryFile>;
export type PersonEntry = z.infer<typeof Person>;
export type ServiceEntry = z.infer<typeof Service>;
