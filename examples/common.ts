/**
 * What the examples share: connecting to NATS as their requesting system with a clear message
 * when nothing is there, the sample approvers of the directory, and the `nats req` line an
 * approver pastes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UnavailableError } from '@countersign/client';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from '@nats-io/transport-node';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

interface NatsContext {
  url?: string;
  user?: string;
  password?: string;
  creds?: string;
  inbox_prefix?: string;
}

/** The NATS CLI context `name` (the run command writes one per identity), if there is one. */
function readContext(name: string): NatsContext | undefined {
  const dir = join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'nats', 'context');
  const file = join(dir, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as NatsContext) : undefined;
}

/**
 * How the example proves it is `identity`: NATS_CREDS (a .creds file, or a file with a user
 * nkey seed), else NATS_USER and NATS_PASSWORD, each with NATS_INBOX_PREFIX; else the NATS CLI
 * context named NATS_CONTEXT or `identity`; else nothing (a server without authentication).
 */
function credentials(identity: string): { url: string; options: Partial<ConnectionOptions> } {
  const env = process.env;
  const inbox = env.NATS_INBOX_PREFIX ? { inboxPrefix: env.NATS_INBOX_PREFIX } : {};
  if (env.NATS_CREDS) {
    const text = readFileSync(env.NATS_CREDS, 'utf8');
    const authenticator = text.includes('BEGIN NATS USER JWT')
      ? credsAuthenticator(new TextEncoder().encode(text))
      : nkeyAuthenticator(new TextEncoder().encode(text.trim()));
    return { url: NATS_URL, options: { authenticator, ...inbox } };
  }
  if (env.NATS_USER) {
    return { url: NATS_URL, options: { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '', ...inbox } };
  }
  const context = readContext(env.NATS_CONTEXT ?? identity);
  if (!context) return { url: NATS_URL, options: {} };
  return {
    url: env.NATS_URL ?? context.url ?? NATS_URL,
    options: {
      ...(context.user ? { user: context.user, pass: context.password ?? '' } : {}),
      ...(context.inbox_prefix ? { inboxPrefix: context.inbox_prefix } : {}),
    },
  };
}

/** One sample approver per role, from the sample directory (deploy/directory.yaml). */
export const SAMPLE_APPROVERS: Record<string, string[]> = {
  ops: ['bob', 'grace'],
  finance: ['frank', 'alice'],
  security: ['erin', 'grace'],
};

/** Prints the message to stderr and exits with the code. */
export function fail(message: string, code = 1): never {
  console.error(`error: ${message}`);
  process.exit(code);
}

/**
 * Connects to NATS as `identity` (see `credentials`). The connection reconnects for as long as
 * the example runs, as a real requester's would; only the first connect fails fast.
 */
export async function connectOrExit(name: string, identity: string): Promise<NatsConnection> {
  const { url, options } = credentials(identity);
  try {
    return await connect({ servers: url, name, timeout: 5000, maxReconnectAttempts: -1, ...options });
  } catch (err) {
    return fail(
      `cannot connect to NATS at ${url} as ${identity} (${(err as Error).message}). Start the system ` +
        'with `bash scripts/run.sh` (it writes a NATS CLI context per identity), or set NATS_URL and ' +
        'NATS_CREDS or NATS_USER/NATS_PASSWORD.',
    );
  }
}

/** A clearer message for the errors a newcomer meets first. */
export function explain(err: unknown): string {
  if (err instanceof UnavailableError) {
    return `${err.message}: are the services running (\`bash scripts/run.sh\`)?`;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * The exact NATS CLI line that records `decidedBy`'s vote on an approval: sent with their
 * context to their own subject, the only decide subject their NATS user may publish to.
 */
export function decideCommand(
  actionId: string,
  decidedBy: string,
  approved: boolean,
  reason: string,
): string {
  const body = JSON.stringify({ action_id: actionId, approved, reason });
  return `nats --context ${decidedBy} req approval.decide.${decidedBy} '${body}'`;
}

/** The sample approvers who may decide an approval needing these roles (without the requester). */
export function approversFor(roles: readonly string[], count: number, requester: string): string[] {
  const people = [...new Set(roles.flatMap((role) => SAMPLE_APPROVERS[role] ?? []))].filter(
    (p) => p !== requester,
  );
  return people.slice(0, count);
}
