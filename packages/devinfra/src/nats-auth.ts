/**
 * The nats-server authentication of a Countersign deployment, generated from the directory: the
 * single source of who may publish and subscribe to what (the run command, the test harness,
 * the fault suite and deploy/nats/countersign.conf for compose all use it).
 *
 * One account, COUNTERSIGN, holds the streams. Countersign's own services each have a user with
 * the least privilege they need. Every directory principal (person or requesting system) has a
 * user, its `nats_user`, that may publish actor-bound commands only under its own identity
 * (`approval.decide.<identity>`, `approval.requested.<identity>`, …): the subject the server let
 * through is the proof of who acts, and the approval service takes the actor from it. A
 * directory service with `acts_for` (the MCP gateway) may also publish under the identities of
 * the agents it lists, and under no one else's.
 */
import { randomBytes } from 'node:crypto';
import { inboxPrefixOf } from '@countersign/contracts';

/** What this module reads of a directory entry (runtime's `Principal` has these fields). */
export interface NatsPrincipal {
  id: string;
  nats_user: string;
  /** A person may propose policy changes (`policy.propose.<id>`); a requesting system may not. */
  kind?: 'person' | 'service';
  /** Requesting systems this one acts for (a gateway's agents): it may publish as each of them. */
  acts_for?: readonly string[];
}

/** What this module reads of the directory (runtime's `Directory` is one). */
export interface NatsDirectory {
  principals(): readonly NatsPrincipal[];
}

/** Countersign's own users: the three services and the operators' full-access user. */
export const SERVICE_USERS = ['approval', 'policy', 'notifier', 'ops'] as const;
export type ServiceUser = (typeof SERVICE_USERS)[number];

export interface NatsPermissions {
  publish: string[];
  /** Subjects refused even though `publish` allows them (ops: another person's proposal). */
  publishDeny?: string[];
  subscribe: string[];
  /** May answer requests on the requester's reply subject, whatever its inbox (services). */
  allowResponses?: boolean;
}

export interface NatsUser {
  user: string;
  /** The directory identity this user acts as (absent for approval, policy and ops). */
  identity?: string;
  permissions?: NatsPermissions;
}

/**
 * Passwords by NATS user (the run command, the tests), or `'environment'`: the config then
 * reads each from `passwordVariable(user)` of nats-server's environment (compose, from .env).
 */
export type NatsSecrets = Readonly<Record<string, string>> | 'environment';

/**
 * Reads the live entry of the directory store (DIRECTORY_BUCKET=countersign-directory, the
 * runtime's directoryStream): services load it, people read it to file a change against it.
 * Only ops write it (`pnpm directory activate`).
 */
const DIRECTORY_STORE_READ = '$JS.API.STREAM.MSG.GET.DIRECTORY_countersign-directory';

const ACTOR_COMMANDS = ['submit', 'decide', 'cancel', 'report', 'extend', 'delegate', 'undelegate'] as const;

/** The approval service: serves approval.*, asks the policy, owns both streams and the intake. */
const APPROVAL: NatsPermissions = {
  publish: [
    'policy.evaluate',
    'policy.authorize',
    'policy.info',
    'approval.pending.>',
    'approval.decided.>',
    'approval.reminder.>',
    'approval.escalated.>',
    'approval.invalid',
    'audit.heads',
    '$JS.API.INFO',
    DIRECTORY_STORE_READ,
    // ensureStreams: create or update the two streams it owns
    '$JS.API.STREAM.INFO.APPROVAL_REQUESTS',
    '$JS.API.STREAM.INFO.APPROVAL_EVENTS',
    '$JS.API.STREAM.CREATE.APPROVAL_REQUESTS',
    '$JS.API.STREAM.CREATE.APPROVAL_EVENTS',
    '$JS.API.STREAM.UPDATE.APPROVAL_REQUESTS',
    '$JS.API.STREAM.UPDATE.APPROVAL_EVENTS',
    // the signed audit heads it publishes (create or update the stream, then publish)
    '$JS.API.STREAM.INFO.AUDIT_HEADS',
    '$JS.API.STREAM.CREATE.AUDIT_HEADS',
    '$JS.API.STREAM.UPDATE.AUDIT_HEADS',
    // the durable intake consumer: create, read, pull, acknowledge
    '$JS.API.CONSUMER.CREATE.APPROVAL_REQUESTS.>',
    '$JS.API.CONSUMER.DURABLE.CREATE.APPROVAL_REQUESTS.>',
    '$JS.API.CONSUMER.INFO.APPROVAL_REQUESTS.>',
    '$JS.API.CONSUMER.MSG.NEXT.APPROVAL_REQUESTS.>',
    '$JS.ACK.APPROVAL_REQUESTS.>',
    // the HTTP event stream: an ordered consumer on the events, and stored events read back by
    // sequence for a Last-Event-ID replay (with several filter subjects the create subject has
    // no consumer name after the stream's)
    '$JS.API.CONSUMER.CREATE.APPROVAL_EVENTS',
    '$JS.API.CONSUMER.CREATE.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.DELETE.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.INFO.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.MSG.NEXT.APPROVAL_EVENTS.>',
    '$JS.API.STREAM.MSG.GET.APPROVAL_EVENTS',
  ],
  subscribe: [
    // actor-bound commands arrive on <command>.<identity>; the bare subject is answered with
    // `identity_required`
    ...ACTOR_COMMANDS.flatMap((c) => [`approval.${c}`, `approval.${c}.>`]),
    'approval.get',
    'approval.list',
    'approval.stats',
    'approval.keys',
    // operators' replay reads (ops only: no principal may publish it)
    'approval.policy_inputs',
    'approval.delegations',
    // services framework: nats micro ls/info/stats/ping
    '$SRV.>',
    '_INBOX.>',
  ],
  allowResponses: true,
};

/** The policy service: serves policy.*, reads and follows its bundle bucket. */
const POLICY: NatsPermissions = {
  publish: [
    // its container's health check (docker-compose.yml) asks it, under its own user
    'policy.info',
    // POLICY_REQUIRE_APPROVAL: reads the approval a bundle names before loading it
    'approval.get',
    // a proposed policy change is replayed here, over every stored request (the service
    // evaluates each of them live anyway)
    'approval.policy_inputs',
    '$JS.API.INFO',
    DIRECTORY_STORE_READ,
    // the object store bucket of policy bundles (countersign-policy): create, read, follow
    '$JS.API.STREAM.INFO.OBJ_countersign-policy',
    '$JS.API.STREAM.CREATE.OBJ_countersign-policy',
    '$JS.API.STREAM.MSG.GET.OBJ_countersign-policy',
    '$JS.API.DIRECT.GET.OBJ_countersign-policy.>',
    '$JS.API.CONSUMER.CREATE.OBJ_countersign-policy.>',
    '$JS.API.CONSUMER.DELETE.OBJ_countersign-policy.>',
    '$JS.API.CONSUMER.INFO.OBJ_countersign-policy.>',
    '$JS.FC.OBJ_countersign-policy.>',
    // policy.propose and policy.activate write the bucket for people, who cannot: proposals
    // (chunks and metadata, and the purge a replaced or deleted object makes) and the live bundle
    '$O.countersign-policy.C.>',
    '$O.countersign-policy.M.>',
    '$JS.API.STREAM.PURGE.OBJ_countersign-policy',
  ],
  subscribe: [
    'policy.evaluate',
    'policy.authorize',
    'policy.info',
    // a person's proposal arrives on policy.propose.<identity>; the bare subject is answered
    // with `identity_required`
    'policy.propose',
    'policy.propose.>',
    'policy.activate',
    '$SRV.>',
    '_INBOX.>',
  ],
  allowResponses: true,
};

/**
 * The notifier: consumes the events and reads an approval for a markdown file. Relaying a
 * decision (`approval.decide.notifier`) comes from its directory entry, merged in below.
 */
const NOTIFIER: NatsPermissions = {
  publish: [
    'approval.get',
    '$JS.API.INFO',
    DIRECTORY_STORE_READ,
    '$JS.API.STREAM.INFO.APPROVAL_EVENTS',
    '$JS.API.CONSUMER.CREATE.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.DURABLE.CREATE.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.INFO.APPROVAL_EVENTS.>',
    '$JS.API.CONSUMER.MSG.NEXT.APPROVAL_EVENTS.>',
    '$JS.ACK.APPROVAL_EVENTS.>',
  ],
  // Its administration commands (notifier.*: only ops publishes them) and the services
  // framework's discovery (nats micro ls/info/stats).
  subscribe: ['notifier.>', '$SRV.>', '_INBOX.>'],
  allowResponses: true,
};

/**
 * The operators' user: everything, except proposing a policy change. A proposal is a person's,
 * made with their own credentials, so the approval's requester (never one of its approvers) is
 * who the credential proves; ops filing one "as" a person would make that rule protect nothing.
 */
const OPS: NatsPermissions = {
  publish: ['>'],
  publishDeny: ['policy.propose', 'policy.propose.>'],
  subscribe: ['>'],
};

/**
 * A directory principal: actor-bound commands and the intake under its own identity (and those
 * of the agents it acts for) only, the
 * reads, the SDK's wait (last-per-subject reads of approval.decided.<id> and the live
 * subscription), and replies on its own inbox prefix.
 */
export function principalPermissions(
  identity: string,
  actsFor: readonly string[] = [],
  kind: 'person' | 'service' = 'service',
): NatsPermissions {
  return {
    publish: [
      ...[identity, ...actsFor].flatMap((id) => [
        `approval.requested.${id}`,
        ...ACTOR_COMMANDS.map((c) => `approval.${c}.${id}`),
      ]),
      // A person proposes policy changes under their own identity only, and may put an approved
      // one live (the policy service checks the approval); the approval routes every proposal.
      ...(kind === 'person' ? [`policy.propose.${identity}`, 'policy.activate'] : []),
      'approval.get',
      'approval.list',
      'approval.stats',
      // the public keys receipts are checked against (requireApproval fetches them)
      'approval.keys',
      'approval.delegations',
      'policy.evaluate',
      '$JS.API.INFO',
      '$JS.API.STREAM.MSG.GET.APPROVAL_EVENTS',
      '$JS.API.DIRECT.GET.APPROVAL_EVENTS.>',
      DIRECTORY_STORE_READ,
    ],
    subscribe: ['approval.decided.>', `${inboxPrefixOf(identity)}.>`],
  };
}

/** A directory that gives a principal one of Countersign's service users. */
export class NatsAuthError extends Error {}

/**
 * Every user of the deployment: the service users, then one per directory principal. The
 * directory's principal whose NATS user is `notifier` (the notifier's entry, which relays
 * decisions) is merged into the notifier service user.
 */
export function natsUsers(directory: NatsDirectory): NatsUser[] {
  const users = new Map<string, NatsUser>([
    ['approval', { user: 'approval', permissions: APPROVAL }],
    ['policy', { user: 'policy', permissions: POLICY }],
    ['notifier', { user: 'notifier', permissions: NOTIFIER }],
    ['ops', { user: 'ops', permissions: OPS }],
  ]);
  const principals = [...directory.principals()].sort((a, b) => a.nats_user.localeCompare(b.nats_user));
  for (const principal of principals) {
    const own = principalPermissions(principal.id, principal.acts_for, principal.kind);
    if (principal.nats_user === 'notifier') {
      users.set('notifier', {
        user: 'notifier',
        identity: principal.id,
        permissions: {
          publish: [...NOTIFIER.publish, ...own.publish.filter((s) => !NOTIFIER.publish.includes(s))],
          subscribe: [...NOTIFIER.subscribe, ...own.subscribe],
          // It answers its administration commands (and nats micro), whatever the asker's inbox.
          allowResponses: true,
        },
      });
      continue;
    }
    if (users.has(principal.nats_user)) {
      throw new NatsAuthError(
        `directory entry ${principal.id}: NATS user "${principal.nats_user}" is Countersign's own`,
      );
    }
    users.set(principal.nats_user, { user: principal.nats_user, identity: principal.id, permissions: own });
  }
  return [...users.values()];
}

/** The environment variable nats-server reads `user`'s password from (`'environment'` secrets). */
export function passwordVariable(user: string): string {
  return `COUNTERSIGN_NATS_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PASSWORD`;
}

/**
 * The `accounts` block of a nats-server configuration (include it next to `jetstream {}`).
 * Throws NatsAuthError when a literal password is missing for a user or two users would read
 * the same password variable.
 */
export function natsAuthConfig(directory: NatsDirectory, secrets: NatsSecrets): string {
  const users = natsUsers(directory);
  const variables = new Map<string, string>();
  const entries = users.map(({ user, identity, permissions }) => {
    let password: string;
    if (secrets === 'environment') {
      const variable = passwordVariable(user);
      const other = variables.get(variable);
      if (other) throw new NatsAuthError(`NATS users "${other}" and "${user}" would share ${variable}`);
      variables.set(variable, user);
      password = `$${variable}`;
    } else {
      const literal = secrets[user];
      if (!literal) throw new NatsAuthError(`no password for NATS user "${user}"`);
      password = quote(literal);
    }
    const head = `      { user: ${quote(user)}, password: ${password}`;
    if (!permissions) return `${head} }`;
    return [
      `${head}, permissions: {${identity ? `  # ${identity}` : ''}`,
      ...renderPermissions(permissions).map((line) => `        ${line}`),
      '      } }',
    ].join('\n');
  });
  return [
    'accounts {',
    '  COUNTERSIGN {',
    '    jetstream: enabled',
    '    users: [',
    ...entries,
    '    ]',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The permissions block's lines, one subject per line so a review reads them. */
function renderPermissions(p: NatsPermissions): string[] {
  const subjects = (list: string[]) =>
    list.map((subject, i) => `  ${quote(subject)}${i < list.length - 1 ? ',' : ''}`);
  const list = (what: string, allow: string[], deny: string[] = []) =>
    deny.length === 0
      ? [`${what}: { allow: [`, ...subjects(allow), '] }']
      : [`${what}: { allow: [`, ...subjects(allow), '], deny: [', ...subjects(deny), '] }'];
  return [
    ...list('publish', p.publish, p.publishDeny),
    ...list('subscribe', p.subscribe),
    ...(p.allowResponses ? ['allow_responses: true'] : []),
  ];
}

/** A double-quoted string of the nats-server configuration format (JSON's escapes). */
function quote(text: string): string {
  return JSON.stringify(text);
}

/** How one user connects: nats.js `user`/`pass`/`inboxPrefix`, the CLI context's fields. */
export interface NatsLogin {
  user: string;
  password: string;
  /** For a directory identity: the only inbox its user may read. Services use the default `_INBOX`. */
  inboxPrefix?: string;
}

/**
 * The users of a directory with their passwords: the server's configuration, and how each
 * service or identity logs in (the run command, the test harness, the fault suite).
 */
export class NatsAuth {
  private constructor(
    private readonly directory: NatsDirectory,
    /** Password by NATS user. */
    readonly passwords: Readonly<Record<string, string>>,
  ) {}

  /**
   * With `passwords` for the users that have one (kept from an earlier run) and a fresh random
   * one for every other user.
   */
  static of(directory: NatsDirectory, passwords: Readonly<Record<string, string>> = {}): NatsAuth {
    const all: Record<string, string> = {};
    for (const { user } of natsUsers(directory))
      all[user] = passwords[user] ?? randomBytes(18).toString('hex');
    return new NatsAuth(directory, all);
  }

  /** The `accounts` block for nats-server, with these passwords. */
  config(): string {
    return natsAuthConfig(this.directory, this.passwords);
  }

  /** Every directory identity, sorted. */
  identities(): string[] {
    return this.directory
      .principals()
      .map((p) => p.id)
      .sort();
  }

  /** How `who` (a service user, `ops`, or a directory identity) connects. */
  login(who: string): NatsLogin {
    if ((SERVICE_USERS as readonly string[]).includes(who)) {
      return { user: who, password: this.passwordOf(who) };
    }
    const principal = this.directory.principals().find((p) => p.id === who);
    if (!principal)
      throw new NatsAuthError(`"${who}" is neither a Countersign service user nor in the directory`);
    return {
      user: principal.nats_user,
      password: this.passwordOf(principal.nats_user),
      inboxPrefix: inboxPrefixOf(principal.id),
    };
  }

  /**
   * The environment a process connecting as `who` reads: a service's NATS_USER and
   * NATS_PASSWORD, plus NATS_INBOX_PREFIX for an identity (the examples, the Python SDK).
   */
  env(who: string, url: string): Record<string, string> {
    const login = this.login(who);
    return {
      NATS_URL: url,
      NATS_USER: login.user,
      NATS_PASSWORD: login.password,
      ...(login.inboxPrefix ? { NATS_INBOX_PREFIX: login.inboxPrefix } : {}),
    };
  }

  private passwordOf(user: string): string {
    const password = this.passwords[user];
    if (!password) throw new NatsAuthError(`no password for NATS user "${user}"`);
    return password;
  }
}
