/**
 * The TypeScript SDK as another team gets it: @countersign/contracts and @countersign/client
 * packed into tarballs, installed with npm into a project outside this repository (no
 * workspace, no tsx), a program compiled with that project's own tsc (strict, NodeNext) and run
 * with node against the real services. What it proves: the tarballs hold the built JavaScript
 * and types and nothing else, their package.json resolves without the workspace, and the SDK
 * works from dist/ with the application's own copy of @nats-io/*.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@countersign/devinfra';
import { waitUntil } from '@countersign/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startSystem } from './support.js';

const run = promisify(execFile);

// The versions the workspace pins: the consumer project is tested with the same ones.
const rootPackage = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
const CONSUMER_DEPENDENCIES = [
  '@nats-io/transport-node@3.4.0',
  '@nats-io/nats-core@3.4.0',
  '@nats-io/jetstream@3.4.0',
  `typescript@${rootPackage.devDependencies.typescript}`,
  `@types/node@${rootPackage.devDependencies['@types/node']}`,
];

// npm's cache lives under the countersign cache root (as in scripts/bootstrap.sh), so a rerun
// installs from it without the network.
const cacheRoot =
  process.env.COUNTERSIGN_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'countersign');

const PROGRAM = `
import { ApprovalRejectedError, CountersignClient } from '@countersign/client';
import { type Approval, type ErrorCode, isCountersignError, Subjects } from '@countersign/contracts';
import { connect } from '@nats-io/transport-node';

// The installed declarations are real types, not \`any\` (an import that did not resolve in
// them would be, under skipLibCheck): each of these must fail to compile.
// @ts-expect-error not one of the contract's error codes
const notACode: ErrorCode = 'maybe';
// @ts-expect-error not an approval status (a type zod infers in the contracts)
const notAStatus: Approval['status'] = 'maybe';
// @ts-expect-error a request needs an action_type
const notARequest: Parameters<CountersignClient['request']>[0] = { description: 'x', requested_by: 'y' };
void [notACode, notAStatus, notARequest];

const nc = await connect({
  servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? '' } : {}),
  ...(process.env.NATS_INBOX_PREFIX ? { inboxPrefix: process.env.NATS_INBOX_PREFIX } : {}),
});
const client = new CountersignClient(nc, { timeout: 10_000 });

// A refused command is caught by its code, not by its class.
try {
  await client.get('no-such-approval');
  console.log('unexpected: found');
} catch (err) {
  if (!isCountersignError(err)) throw err;
  const code: ErrorCode = err.code;
  console.log(\`refused: \${code} \${err.status} \${err.name}\`);
}

const { action_id } = await client.request({
  action_id: process.argv[2],
  action_type: 'payment',
  description: 'Pay invoice 42',
  requested_by: 'billing-job',
  context: { amount: 1500 },
});
console.log(\`waiting \${action_id} on \${Subjects.decided(action_id)}\`);
try {
  const approval = await client.waitForDecision(action_id, { timeout: 45_000 });
  console.log(\`approved by \${approval.decided_by}: \${approval.decision_reason}\`);
} catch (err) {
  if (!(err instanceof ApprovalRejectedError)) throw err;
  console.log(\`rejected by \${err.approval.decided_by}\`);
}
await nc.drain();
`;

// A CommonJS module of the same project: tsc compiles its imports to require(), which Node
// >= 20.19 resolves to the ESM-only SDK (require of ESM).
const COMMONJS_PROGRAM = `
import { CountersignClient } from '@countersign/client';
import { isCountersignError } from '@countersign/contracts';

console.log(\`commonjs: \${typeof CountersignClient} \${typeof isCountersignError}\`);
`;

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    // As most projects do (and tsc --init): checking zod's, nats' and node's declarations
    // would triple the compile time; the program above guards against types lost to \`any\`.
    skipLibCheck: true,
    outDir: 'dist',
    types: ['node'],
  },
  include: ['src'],
};

const system = await startSystem('sdk-package');

let packDir = '';
let appDir = '';
const tarballs: Record<'contracts' | 'client', string> = { contracts: '', client: '' };

async function pack(name: 'contracts' | 'client'): Promise<string> {
  // pnpm pack runs the package's prepack (a clean build) and rewrites exports and workspace:^.
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', packDir], {
    cwd: join(REPO_ROOT, 'packages', name),
  });
  const tarball = stdout
    .trim()
    .split('\n')
    .findLast((line) => line.endsWith('.tgz'));
  if (!tarball) throw new Error(`pnpm pack printed no tarball for ${name}:\n${stdout}`);
  return tarball.trim();
}

async function filesOf(tarball: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  return stdout.trim().split('\n').sort();
}

async function packedManifest(tarball: string) {
  const { stdout } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
  return JSON.parse(stdout);
}

beforeAll(async () => {
  packDir = await mkdtemp(join(tmpdir(), 'countersign-sdk-pack-'));
  appDir = await mkdtemp(join(tmpdir(), 'countersign-sdk-app-'));
  // One after the other: the client's build reads the contracts' declarations.
  tarballs.contracts = await pack('contracts');
  tarballs.client = await pack('client');

  await writeFile(
    join(appDir, 'package.json'),
    JSON.stringify({ name: 'sdk-consumer', private: true, type: 'module' }, null, 2),
  );
  await run(
    'npm',
    [
      'install',
      '--cache',
      join(cacheRoot, 'npm'),
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      tarballs.contracts,
      tarballs.client,
      ...CONSUMER_DEPENDENCIES,
    ],
    { cwd: appDir },
  );
  await mkdir(join(appDir, 'src'));
  await writeFile(join(appDir, 'src/main.ts'), PROGRAM);
  await writeFile(join(appDir, 'src/commonjs.cts'), COMMONJS_PROGRAM);
  await writeFile(join(appDir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
  // The project's own tsc, not the workspace's.
  await run(process.execPath, [join(appDir, 'node_modules/typescript/bin/tsc'), '-p', appDir]).catch(
    (err: { stdout?: string; message: string }) => {
      throw new Error(`tsc failed in the consumer project:\n${err.stdout ?? err.message}`);
    },
  );
}, 240_000);

afterAll(async () => {
  await Promise.all(
    [packDir, appDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })),
  );
});

describe('the SDK tarballs', () => {
  it('hold the built JavaScript, its types, README and license, and no sources or tests', async () => {
    for (const tarball of Object.values(tarballs)) {
      const files = await filesOf(tarball);
      expect(files).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/index.d.ts']));
      expect(files).toEqual(
        expect.arrayContaining([
          'package/package.json',
          'package/README.md',
          'package/LICENSE',
          'package/NOTICE',
        ]),
      );
      const unexpected = files.filter(
        (f) =>
          !/^package\/(dist\/[\w-]+\.(js|d\.ts|js\.map)|package\.json|README\.md|LICENSE|NOTICE)$/.test(f),
      );
      expect(unexpected).toEqual([]);
      expect(files.filter((f) => f.includes('/src/') || f.includes('.test.'))).toEqual([]);
    }
  });

  it('point at dist/ and name real version ranges, with @nats-io/* as peers', async () => {
    const contracts = await packedManifest(tarballs.contracts);
    const client = await packedManifest(tarballs.client);
    for (const manifest of [contracts, client]) {
      expect(manifest.exports).toEqual({ '.': { types: './dist/index.d.ts', default: './dist/index.js' } });
      expect(manifest).toMatchObject({ type: 'module', license: 'Apache-2.0', engines: { node: '>=20.19' } });
      expect(manifest.dependencies.zod).toMatch(/^\^4\./);
    }
    expect(client.dependencies['@countersign/contracts']).toBe(`^${contracts.version}`);
    expect(client.peerDependencies).toEqual({
      '@nats-io/jetstream': expect.stringMatching(/^\^3\./),
      '@nats-io/nats-core': expect.stringMatching(/^\^3\./),
    });
    expect(JSON.stringify([contracts, client])).not.toContain('workspace:');
  });
});

describe('a project outside the workspace', () => {
  it('loads the SDK from CommonJS too (require of ESM)', async () => {
    const { stdout } = await run(process.execPath, [join(appDir, 'dist/commonjs.cjs')], { cwd: appDir });
    expect(stdout.trim()).toBe('commonjs: function function');
  });

  it('requests an approval, catches a typed error by its code and gets the decision by push', async () => {
    const actionId = `sdk-package-${Date.now().toString(36)}`;
    const child = spawn(process.execPath, [join(appDir, 'dist/main.js'), actionId], {
      cwd: appDir,
      env: { ...process.env, ...system.nats.env('billing-job') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => stdout.includes(`waiting ${actionId}`) || child.exitCode !== null, {
        timeout: 30_000,
      });
      await waitUntil(
        async () =>
          (await call(system.nc, 'get', { action_id: actionId }).catch(() => undefined))?.status ===
          'pending',
        { timeout: 30_000 },
      );
      await call(system.nc, 'decide', {
        action_id: actionId,
        approved: true,
        decided_by: 'frank',
        reason: 'ok',
      });
      expect(await exited, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stdout.trim().split('\n')).toEqual([
      'refused: not_found 404 NotFoundError',
      `waiting ${actionId} on approval.decided.${actionId}`,
      'approved by frank: ok',
    ]);
  });
});
