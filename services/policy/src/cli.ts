/**
 * `pnpm policy <command>`: build, check and roll out policy bundles.
 *
 *   pnpm policy build --out bundle.tar.gz [--dir policies]
 *   pnpm policy publish [--dir policies | --bundle bundle.tar.gz] [--break-glass] [--since 7d]
 *                       (as yourself: proposes it to the policy service and files the policy_change
 *                       approval it answers; `activate <id>` puts it live once approved)
 *   pnpm policy publish --direct ...   (ops, no approval: only where replicas do not require one)
 *   pnpm policy activate <approval id>
 *   pnpm policy shadow [--dir policies | --bundle bundle.tar.gz]   (ops: evaluated beside the live policy, never enforced)
 *   pnpm policy promote                (as yourself: propose the shadow; activating it ends the shadow)
 *   pnpm policy promote --direct | drop   (ops: make the shadow live without approval, or remove it)
 *   pnpm policy replay --bundle <dir|tar> [--live <dir|tar>] [--since 7d] [--action-type t] [--max-changes n] [--json]
 *
 * `publish` and `promote` run with a person's OWN NATS credentials (NATS_USER and NATS_PASSWORD,
 * or NATS_CREDS): they send to `policy.propose.<identity>` and `approval.submit.<identity>`,
 * subjects only that person's user may publish, so the approval's requester is who the
 * credential proves (ops may not propose). `activate` works with any of them or ops: the policy
 * service checks the approval. `--direct`, `shadow`, `drop` and `replay` need ops (the bucket,
 * every stored request). Every bundle is checked exactly as a replica checks it (entrypoints,
 * builtins, golden cases) before it is written or replayed here, or by the policy service when
 * it is proposed.
 * Environment: NATS_URL (NATS_CREDS or NATS_USER and NATS_PASSWORD, or NATS_AUTH=off), OPA_BIN,
 * POLICY_DIR, POLICY_BUCKET; DIRECTORY_FILE (optional) maps NATS_USER to its identity and gives a
 * replay the roles both policies see.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { callEndpoint } from '@countersign/client';
import {
  isCountersignError,
  MAX_PROPOSAL_BYTES,
  type PolicyActivation,
  type RequestOf,
} from '@countersign/contracts';
import {
  connectCli,
  Directory,
  loadConfig,
  NatsCredentialsError,
  parseDuration,
  type RuntimeSettings,
} from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import { BUNDLE_OBJECT, getBundle, openPolicyBucket, putBundle, SHADOW_OBJECT } from './bucket.js';
import { buildBundle, readBundle } from './bundle.js';
import { PolicyCliEnv } from './config.js';
import { CredentialIdentityError, credentialIdentity } from './credential-identity.js';
import { PolicyEngine } from './engine.js';
import { describeLoadError } from './errors.js';
import { formatReplay, replay } from './replay.js';
import { EMPTY_DIRECTORY, type PolicyDirectory, policyDirectory } from './roles.js';

const USAGE = `usage:
  pnpm policy build --out <file> [--dir <policies>]
  pnpm policy publish [--dir <policies> | --bundle <file>] [--break-glass] [--since 7d]
  pnpm policy publish --direct [--dir <policies> | --bundle <file>] [--bucket <name>]
  pnpm policy activate <approval id>
  pnpm policy shadow [--dir <policies> | --bundle <file>] [--bucket <name>]
  pnpm policy promote [--since 7d]
  pnpm policy promote --direct [--bucket <name>]
  pnpm policy drop [--bucket <name>]
  pnpm policy replay --bundle <dir|file> [--live <dir|file>] [--since 7d] [--action-type <type>]
                     [--max-changes <n>] [--json] [--bucket <name>]`;

// pnpm runs the script inside services/policy; user paths are resolved against INIT_CWD (the
// directory pnpm was started from: the repository root for `pnpm policy`), not the package.
const fromUser = (path: string) => resolve(process.env.INIT_CWD ?? process.cwd(), path);

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      bundle: { type: 'string' },
      live: { type: 'string' },
      out: { type: 'string' },
      bucket: { type: 'string' },
      since: { type: 'string' },
      'action-type': { type: 'string' },
      'max-changes': { type: 'string' },
      json: { type: 'boolean' },
      'break-glass': { type: 'boolean' },
      direct: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const { runtime, policy } = loadConfig(PolicyCliEnv);
  const bucket = values.bucket ?? policy.bucket;
  const proposalOptions = () => {
    const options: { break_glass?: boolean; replay_since?: string } = {};
    if (values['break-glass']) options.break_glass = true;
    if (values.since) {
      const ms = parseDurationOrNull(values.since);
      if (ms === null) throw new UsageError(`--since: "${values.since}" is not a duration such as 7d or 12h`);
      options.replay_since = new Date(Date.now() - ms).toISOString();
    }
    return options;
  };

  /** A bundle from a source directory (built) or a bundle file (read), as bytes. */
  const bundleBytes = async (path: string) =>
    (await stat(path)).isDirectory()
      ? (await buildBundle({ dir: path, opaBin: policy.opaBin })).bytes
      : await readFile(path);

  // Built (or read) and validated, for build, publish --direct and shadow.
  const prepare = async () => {
    const bytes = await bundleBytes(
      values.bundle ? fromUser(values.bundle) : values.dir ? fromUser(values.dir) : policy.dir,
    );
    const engine = await PolicyEngine.load(readBundle(bytes));
    for (const warning of engine.warnings) console.error(`policy: warning: ${warning}`);
    return { bytes, revision: engine.revision };
  };

  /** Connects; as `identity` (a person), replies come on that identity's own inbox prefix. */
  const withNats = async <T>(run: (nc: NatsConnection) => Promise<T>, identity?: string): Promise<T> => {
    const nc = await connectCli(runtime.nats, 'countersign-policy-cli', {
      identity:
        identity ?? (runtime.nats.user && runtime.nats.user !== 'ops' ? runtime.nats.user : undefined),
    });
    try {
      return await run(nc);
    } finally {
      await nc.drain();
    }
  };

  if (command === 'build') {
    if (!values.out) throw new UsageError('build needs --out <file>');
    const { bytes, revision } = await prepare();
    const out = fromUser(values.out);
    await writeFile(out, bytes);
    console.log(`built ${revision} (${bytes.byteLength} bytes) -> ${out}`);
    return;
  }
  if (command === 'publish') {
    if (values.direct) {
      if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
      const { bytes, revision } = await prepare();
      await withNats(async (nc) => {
        const store = await openPolicyBucket(nc, bucket);
        const info = await putBundle(store, bytes, revision);
        console.log(`published ${revision} (${info.size} bytes) to ${bucket}/${BUNDLE_OBJECT}`);
      });
      return;
    }
    const identity = await ownIdentity(runtime);
    // Sent as it is: the policy service checks it as a replica does and answers any refusal.
    const bytes = await bundleBytes(
      values.bundle ? fromUser(values.bundle) : values.dir ? fromUser(values.dir) : policy.dir,
    );
    await withNats(
      (nc) =>
        proposeAndFile(nc, identity, {
          bundle: Buffer.from(bytes).toString('base64'),
          ...proposalOptions(),
        }),
      identity,
    );
    return;
  }
  if (command === 'activate') {
    const id = positionals[1];
    if (!id) throw new UsageError('activate needs the approval id that publish printed');
    const identity = await ownIdentity(runtime, { opsAllowed: true });
    await withNats(async (nc) => {
      const done = await callEndpoint(nc, 'activatePolicy', { action_id: id }, { timeout: 30_000 });
      console.log(activated(done));
    }, identity);
    return;
  }
  if (command === 'shadow') {
    if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
    const { bytes, revision } = await prepare();
    await withNats(async (nc) => {
      await putBundle(await openPolicyBucket(nc, bucket), bytes, revision, SHADOW_OBJECT);
      console.log(
        `shadowing ${revision}: evaluated beside the live policy, never enforced (${bucket}/${SHADOW_OBJECT})`,
      );
    });
    return;
  }
  if (command === 'drop') {
    if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
    await withNats(async (nc) => {
      const store = await openPolicyBucket(nc, bucket);
      const shadow = await getBundle(store, SHADOW_OBJECT);
      if (!shadow) throw new UsageError(`no shadow policy in ${bucket}`);
      await store.delete(SHADOW_OBJECT);
      console.log(`dropped the shadow ${shadow.info.metadata?.revision ?? ''}`.trimEnd());
    });
    return;
  }
  if (command === 'promote') {
    if (values.direct) {
      // Only where replicas do not require approval (POLICY_REQUIRE_APPROVAL=false): those
      // that do refuse a bundle naming no approved change.
      if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
      await withNats(async (nc) => {
        const store = await openPolicyBucket(nc, bucket);
        const shadow = await getBundle(store, SHADOW_OBJECT);
        if (!shadow) throw new UsageError(`no shadow policy in ${bucket}`);
        // Checked again: a shadow is evaluated, never trusted.
        const engine = await PolicyEngine.load(readBundle(shadow.bytes));
        await putBundle(store, shadow.bytes, engine.revision);
        await store.delete(SHADOW_OBJECT);
        console.log(`promoted ${engine.revision} to ${bucket}/${BUNDLE_OBJECT}; the shadow ended`);
      });
      return;
    }
    // Promoting is proposing the shadow's revision: the same approval as any publish, and
    // activating it ends the shadow.
    const identity = await ownIdentity(runtime);
    await withNats((nc) => proposeAndFile(nc, identity, { shadow: true, ...proposalOptions() }), identity);
    return;
  }
  if (command === 'replay') {
    if (!values.bundle) throw new UsageError('replay needs --bundle <dir|file>: the candidate');
    const maxChanges = values['max-changes'] === undefined ? undefined : Number(values['max-changes']);
    if (maxChanges !== undefined && !(Number.isInteger(maxChanges) && maxChanges >= 0)) {
      throw new UsageError('--max-changes must be a whole number (0 or more)');
    }
    let since: string | undefined;
    if (values.since) {
      const ms = parseDurationOrNull(values.since);
      if (ms === null) throw new UsageError(`--since: "${values.since}" is not a duration such as 7d or 12h`);
      since = new Date(Date.now() - ms).toISOString();
    }
    const directory = await replayDirectory(runtime.directoryFile);
    const candidate = await PolicyEngine.load(readBundle(await bundleBytes(fromUser(values.bundle))), {
      directory,
    });
    const report = await withNats(async (nc) => {
      const liveBytes = values.live ? await bundleBytes(fromUser(values.live)) : await liveBundle(nc, bucket);
      const live = await PolicyEngine.load(readBundle(liveBytes), { directory });
      return replay({
        nc,
        live,
        candidate,
        ...(since ? { since } : {}),
        ...(values['action-type'] ? { actionType: values['action-type'] } : {}),
      });
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReplay(report));
    if (maxChanges !== undefined && report.changes.length > maxChanges) {
      console.error(
        `policy: ${report.changes.length} decisions would change, more than --max-changes ${maxChanges}`,
      );
      process.exitCode = 3;
    }
    return;
  }
  throw new UsageError(`unknown command "${command}"`);
}

/** {@link credentialIdentity}, its refusals as usage errors. */
async function ownIdentity(runtime: RuntimeSettings, options: { opsAllowed?: boolean } = {}) {
  try {
    const directory = runtime.directoryFile ? await readFile(runtime.directoryFile, 'utf8') : undefined;
    const creds = runtime.nats.credsFile ? await readFile(runtime.nats.credsFile, 'utf8') : undefined;
    return credentialIdentity({ user: runtime.nats.user, creds, directory, ...options });
  } catch (err) {
    if (err instanceof CredentialIdentityError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * Proposes on `policy.propose.<identity>` (the policy service checks the bundle as a replica
 * does, replays it, keeps it aside) and files the approval request it answers, unchanged, on
 * `approval.submit.<identity>`. A break-glass change the live policy approves at once goes live
 * at once.
 */
async function proposeAndFile(
  nc: NatsConnection,
  identity: string | undefined,
  request: RequestOf<'proposePolicy'>,
): Promise<void> {
  if (!identity)
    throw new UsageError('policy changes are proposed as yourself: set your own NATS credentials');
  // nats-server refuses a message over its max_payload before anyone reads it: say so clearly.
  const size = Buffer.byteLength(JSON.stringify(request));
  const limit = Math.min(nc.info?.max_payload ?? MAX_PROPOSAL_BYTES, MAX_PROPOSAL_BYTES);
  if (size > limit) {
    const bundle = request.bundle === undefined ? 0 : Buffer.from(request.bundle, 'base64').byteLength;
    throw new CliError(
      'payload_too_large',
      `the bundle is ${bundle} bytes, ${size} as a proposal (base64), more than the ${limit} bytes this NATS server takes in one message (its max_payload): make the bundle smaller or raise max_payload`,
    );
  }
  const proposal = await callEndpoint(nc, 'proposePolicy', request, { actor: identity, timeout: 120_000 });
  for (const warning of proposal.warnings) console.error(`policy: warning: ${warning}`);
  const approval = await callEndpoint(nc, 'submit', proposal.request, { actor: identity, timeout: 15_000 });
  if (approval.status === 'approved') {
    const done = await callEndpoint(
      nc,
      'activatePolicy',
      { action_id: approval.action_id },
      { timeout: 30_000 },
    );
    console.log(`break-glass: ${activated(done)} (security is notified)`);
    return;
  }
  console.log(
    `approval ${approval.action_id} filed by ${identity} for ${proposal.revision}: ${approval.status}, needs ${approval.required_approvals} approvals from ${approval.policy.approver_roles.join(', ')}\n` +
      `once approved: pnpm policy activate ${approval.action_id}`,
  );
}

function activated(done: PolicyActivation): string {
  return `${done.activated ? 'activated' : 'already live:'} ${done.revision} (approval ${done.action_id}, proposed by ${done.proposed_by})${done.ended_shadow ? '; the shadow ended' : ''}`;
}

/** The bundle every replica runs: the bucket's. */
async function liveBundle(nc: NatsConnection, bucket: string): Promise<Uint8Array> {
  if (!bucket) throw new UsageError('no live policy: pass --live <dir|file>, --bucket, or set POLICY_BUCKET');
  const found = await getBundle(await openPolicyBucket(nc, bucket));
  if (!found) throw new UsageError(`the bucket ${bucket} holds no bundle: pass --live <dir|file>`);
  return found.bytes;
}

/** Both policies see the same roles; without DIRECTORY_FILE nobody holds any (no bypass). */
async function replayDirectory(file: string): Promise<PolicyDirectory> {
  if (!file) return EMPTY_DIRECTORY;
  return policyDirectory(Directory.parse(await readFile(file, 'utf8')));
}

function parseDurationOrNull(text: string): number | null {
  try {
    return parseDuration(text);
  } catch {
    return null;
  }
}

class UsageError extends Error {}

/** A refusal the CLI itself gives, with the contract's error code. */
class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof NatsCredentialsError) {
    console.error(`policy: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  // A structured refusal (the CLI's or a service's): its code, message and reasons or fields.
  if (err instanceof CliError || isCountersignError(err)) {
    const details = isCountersignError(err) && err.details ? ` ${JSON.stringify(err.details)}` : '';
    console.error(`policy: ${err.code}: ${err.message}${details}`);
    process.exit(1);
  }
  const { kind, message } = describeLoadError(err);
  console.error(`policy: ${kind === 'error' ? '' : `${kind}: `}${message}`);
  process.exit(1);
});
