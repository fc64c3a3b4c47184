import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/nats-core';
import type { ConfigIssue } from './config.js';

/** How a process proves who it is to nats-server (NATS_CREDS, or NATS_USER and NATS_PASSWORD). */
export interface NatsCredentialSettings {
  user?: string | undefined;
  password?: string | undefined;
  /** A `.creds` file (user JWT and nkey seed) or a file holding a bare user nkey seed. */
  credsFile?: string | undefined;
  /**
   * `on` (the default): a process without credentials refuses to start, since every identity on
   * NATS is proven by its credential. `off`: a dev server without authentication.
   */
  auth: 'on' | 'off';
}

export type NatsAuthOptions = Pick<ConnectionOptions, 'authenticator'>;

const CREDS_MARKER = /-----BEGIN NATS USER JWT-----/;
const USER_SEED = /^SU[A-Z2-7]{56}$/;

/**
 * The connection options that authenticate with `settings`, or the configuration issues that
 * keep it from doing so (named by variable, never quoting a secret). Files are read here, once,
 * so a missing or wrong credentials file stops the process at start rather than on a reconnect.
 */
export function natsAuthOptions(
  settings: NatsCredentialSettings,
): { ok: true; options: NatsAuthOptions } | { ok: false; issues: ConfigIssue[] } {
  if (settings.credsFile) {
    if (settings.user || settings.password) {
      return {
        ok: false,
        issues: [
          { variable: 'NATS_CREDS', message: 'set either NATS_CREDS or NATS_USER/NATS_PASSWORD, not both' },
        ],
      };
    }
    let text: string;
    try {
      text = readFileSync(settings.credsFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      return { ok: false, issues: [{ variable: 'NATS_CREDS', message: `cannot be read (${code})` }] };
    }
    if (CREDS_MARKER.test(text)) {
      return { ok: true, options: { authenticator: credsAuthenticator(new TextEncoder().encode(text)) } };
    }
    const seed = text.trim();
    if (USER_SEED.test(seed)) {
      return { ok: true, options: { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } };
    }
    return {
      ok: false,
      issues: [
        {
          variable: 'NATS_CREDS',
          message: 'must be a .creds file (user JWT and seed) or a file holding a user nkey seed (SU…)',
        },
      ],
    };
  }
  if (settings.user) {
    if (!settings.password) {
      return { ok: false, issues: [{ variable: 'NATS_PASSWORD', message: 'is required with NATS_USER' }] };
    }
    return {
      ok: true,
      options: { authenticator: usernamePasswordAuthenticator(settings.user, settings.password) },
    };
  }
  if (settings.password) {
    return { ok: false, issues: [{ variable: 'NATS_USER', message: 'is required with NATS_PASSWORD' }] };
  }
  if (settings.auth === 'on') {
    return {
      ok: false,
      issues: [
        {
          variable: 'NATS_CREDS',
          message:
            'NATS authentication is on: set NATS_CREDS (a .creds or nkey seed file) or NATS_USER and NATS_PASSWORD, or NATS_AUTH=off on a dev server without authentication',
        },
      ],
    };
  }
  return { ok: true, options: {} };
}
