/**
 * `pnpm policy <command>`: build, check and roll out policy bundles.
 *
 *   pnpm policy build --out bundle.tar.gz [--dir policies]
 *   pnpm policy publish [--dir policies | --bundle bundle.tar.gz] [--as <identity>] [--break-glass]
 *                       (files a policy_change approval; `activate <id>` puts it live once approved)
 *   pnpm policy publish --direct ...   (no approval: only where replicas do not require one)
 *   pnpm policy activate <approval id>
 *   pnpm policy shadow [--dir policies | --bundle bundle.tar.gz]   (evaluate beside the live policy, never enforced)
 *   pnpm policy promote | drop                                  (end the shadow: make it live, or remove it)
 *   pnpm policy replay --bundle <dir|tar> [--live <dir|tar>] [--since 7d] [--action-type t] [--max-changes n] [--json]
 *
 * Every bundle is checked exactly as a replica checks it (entrypoints, builtins, golden cases)
 * before it is written, published or replayed, so a broken policy never reaches the bucket from here.
 * Environment: NATS_URL (NATS_CREDS or NATS_USER and NATS_PASSWORD: an operator user such as ops,
 * or NATS_AUTH=off), OPA_BIN, POLICY_DIR, POLICY_BUCKET; DIRECTORY_FILE (optional) gives a
 * replay the roles both policies see.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { inboxPrefixOf } from '@countersign/contracts';
import { Directory, loadConfig, natsAuthOptions, parseDuration } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { BUNDLE_OBJECT, getBundle, openPolicyBucket, putBundle, SHADOW_OBJECT } from './bucket.js';
import { buildBundle, readBundle } from './bundle.js';
import { PolicyCliEnv } from './config.js';
import { PolicyEngine } from './engine.js';
import { describeLoadError } from './errors.js';
import { activateChange, dataDiff, fileChange, replaySummary } from './policy-change.js';
import { formatReplay, replay } from './replay.js';
import { EMPTY_DIRECTORY, type PolicyDirectory, policyDirectory } from './roles.js';

const USAGE = `usage:
  pnpm policy build --out <file> [--dir <policies>]
  pnpm policy publish [--dir <policies> | --bundle <file>] [--as <identity>] [--break-glass]
                      [--since 7d] [--bucket <name>] [--direct]
  pnpm policy activate <approval id> [--bucket <name>]
  pnpm policy shadow [--dir <policies> | --bundle <file>] [--bucket <name>]
  pnpm policy promote [--bucket <name>]
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
      as: { type: 'string' },
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

  /** A bundle from a source directory (built) or a bundle file (read), as bytes. */
  const bundleBytes = async (path: string) =>
    (await stat(path)).isDirectory()
      ? (await buildBundle({ dir: path, opaBin: policy.opaBin })).bytes
      : await readFile(path);

  // Built (or read) and validated, for build and publish.
  const prepare = async () => {
    const bytes = await bundleBytes(
      values.bundle ? fromUser(values.bundle) : values.dir ? fromUser(values.dir) : policy.dir,
    );
    const engine = await PolicyEngine.load(readBundle(bytes));
    for (const warning of engine.warnings) console.error(`policy: warning: ${warning}`);
    return { bytes, revision: engine.revision };
  };

  const withNats = async <T>(run: (nc: NatsConnection) => Promise<T>): Promise<T> => {
    const auth = natsAuthOptions(runtime.nats);
    if (!auth.ok) throw new UsageError(auth.issues.map((i) => `${i.variable}: ${i.message}`).join('\n'));
    // A person's credentials may read replies only on the identity's own inbox prefix.
    const inbox =
      values.as ?? (runtime.nats.user && runtime.nats.user !== 'ops' ? runtime.nats.user : undefined);
    const nc = await connect({
      servers: runtime.nats.url.split(',').map((s) => s.trim()),
      name: 'countersign-policy-cli',
      ...(inbox ? { inboxPrefix: inboxPrefixOf(inbox) } : {}),
      ...auth.options,
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
    if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
    const { bytes, revision } = await prepare();
    if (values.direct) {
      await withNats(async (nc) => {
        const store = await openPolicyBucket(nc, bucket);
        const info = await putBundle(store, bytes, revision);
        console.log(`published ${revision} (${info.size} bytes) to ${bucket}/${BUNDLE_OBJECT}`);
      });
      return;
    }
    // The publisher is the identity the NATS subject proves: its own user's, or --as with ops.
    const identity = values.as ?? (runtime.nats.user !== 'ops' ? runtime.nats.user : undefined);
    if (!identity)
      throw new UsageError('publish files an approval as you: pass --as <identity> or NATS_USER');
    const directory = await replayDirectory(runtime.directoryFile);
    await withNats(async (nc) => {
      const store = await openPolicyBucket(nc, bucket);
      const candidate = await PolicyEngine.load(readBundle(bytes), { directory });
      const live = await getBundle(store);
      const context: Record<string, unknown> = {};
      if (live) {
        const liveBundle = readBundle(live.bytes);
        context.live_revision = liveBundle.revision;
        context.diff = dataDiff(liveBundle.data, readBundle(bytes).data);
        const since = new Date(Date.now() - parseDuration(values.since ?? '7d')).toISOString();
        context.replay = await replay({
          nc,
          live: await PolicyEngine.load(liveBundle, { directory }),
          candidate,
          since,
        }).then(replaySummary, (err: unknown) => ({ error: (err as Error).message }));
      }
      const approval = await fileChange({
        nc,
        store,
        bytes,
        revision,
        identity,
        context,
        breakGlass: values['break-glass'] ?? false,
      });
      if (approval.status === 'approved') {
        await activateChange(nc, store, approval.action_id);
        console.log(
          `break-glass: ${revision} is live (approval ${approval.action_id}; security is notified)`,
        );
        return;
      }
      console.log(
        `approval ${approval.action_id} filed for ${revision}: ${approval.status}, needs ${approval.required_approvals} approvals from ${approval.policy.approver_roles.join(', ')}\n` +
          `once approved: pnpm policy activate ${approval.action_id}`,
      );
    });
    return;
  }
  if (command === 'activate') {
    const id = positionals[1];
    if (!id) throw new UsageError('activate needs the approval id that publish printed');
    if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
    await withNats(async (nc) => {
      const { revision } = await activateChange(nc, await openPolicyBucket(nc, bucket), id);
      console.log(`activated ${revision} (approval ${id}) in ${bucket}/${BUNDLE_OBJECT}`);
    });
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

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`policy: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const { kind, message } = describeLoadError(err);
  console.error(`policy: ${kind === 'error' ? '' : `${kind}: `}${message}`);
  process.exit(1);
});
