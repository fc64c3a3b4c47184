/**
 * `pnpm policy <command>`: build, check and roll out policy bundles.
 *
 *   pnpm policy build --out bundle.tar.gz [--dir policies]
 *   pnpm policy publish [--dir policies | --bundle bundle.tar.gz] [--bucket countersign-policy]
 *
 * Every bundle is checked exactly as a replica checks it (entrypoints, builtins, golden cases)
 * before it is written or published, so a broken policy never reaches the bucket from here.
 * Environment: NATS_URL (NATS_CREDS or NATS_USER and NATS_PASSWORD: an operator user such as ops,
 * or NATS_AUTH=off), OPA_BIN, POLICY_DIR, POLICY_BUCKET.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, natsAuthOptions } from '@countersign/runtime';
import { connect } from '@nats-io/transport-node';
import { BUNDLE_OBJECT, openPolicyBucket, putBundle } from './bucket.js';
import { buildBundle, readBundle } from './bundle.js';
import { PolicyCliEnv } from './config.js';
import { PolicyEngine } from './engine.js';
import { describeLoadError } from './errors.js';

const USAGE = `usage:
  pnpm policy build --out <file> [--dir <policies>]
  pnpm policy publish [--dir <policies> | --bundle <file>] [--bucket <name>]`;

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
      out: { type: 'string' },
      bucket: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const { runtime, policy } = loadConfig(PolicyCliEnv);

  // Built (or read) and validated, for both commands.
  const prepare = async () => {
    const bytes = values.bundle
      ? await readFile(fromUser(values.bundle))
      : (
          await buildBundle({
            dir: values.dir ? fromUser(values.dir) : policy.dir,
            opaBin: policy.opaBin,
          })
        ).bytes;
    const engine = await PolicyEngine.load(readBundle(bytes));
    return { bytes, revision: engine.revision };
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
    const bucket = values.bucket ?? policy.bucket;
    if (!bucket) throw new UsageError('no bucket: pass --bucket or set POLICY_BUCKET');
    const { bytes, revision } = await prepare();
    const auth = natsAuthOptions(runtime.nats);
    if (!auth.ok) throw new UsageError(auth.issues.map((i) => `${i.variable}: ${i.message}`).join('\n'));
    const nc = await connect({
      servers: runtime.nats.url.split(',').map((s) => s.trim()),
      name: 'countersign-policy-cli',
      ...auth.options,
    });
    try {
      const store = await openPolicyBucket(nc, bucket);
      const info = await putBundle(store, bytes, revision);
      console.log(`published ${revision} (${info.size} bytes) to ${bucket}/${BUNDLE_OBJECT}`);
    } finally {
      await nc.drain();
    }
    return;
  }
  throw new UsageError(`unknown command "${command}"`);
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
