/**
 * The production image without a Docker engine: the Dockerfile read as data (stages, RUN, ENV,
 * CMD), and its build stage replayed in a temp directory on the build context .dockerignore
 * leaves, so the compiled-services test runs what the image would hold, built by the same
 * commands. Docker-only steps (installing pnpm globally) are the one thing not replayed.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { dockerfile, REPO_ROOT, stageEnv, tool } from '@countersign/devinfra';

const run = promisify(execFile);
// A CommonJS module whose types declare an ES default export it does not have: load it as CommonJS.
const ignore = createRequire(import.meta.url)(
  '@balena/dockerignore',
) as typeof import('@balena/dockerignore').default;

/**
 * The current Node LTS, as the npm `node` package ships it: the compiled services are tested on
 * it and on the Node running the tests, and the image's base is its major.
 */
export const LTS_NODE = '26.10.0';

/** The package.json exports condition that selects a workspace package's compiled dist/. */
export const DIST_CONDITION = 'countersign-dist';

/** Tracked and new (not ignored) files of the checkout that `docker build` would send. */
async function buildContext(): Promise<string[]> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  const matcher = ignore().add(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
  return stdout.split('\0').filter((file) => file !== '' && !matcher.ignores(file));
}

export interface ImageLayout {
  /** What the image's WORKDIR holds: services/<name> deployed, and the policy bundle. */
  app: string;
  env: Record<string, string>;
  /** The image's CMD. */
  command: string[];
}

/**
 * Replays the Dockerfile in `root`: the context copied to root/src, the build stage's RUN steps
 * there (with /app moved to root/app), the policy stage's opa build, and the final stage's
 * WORKDIR, ENV and CMD with /app moved likewise. pnpm installs from its store when it can.
 */
export async function buildImageLayout(root: string, log: (line: string) => void): Promise<ImageLayout> {
  const stages = dockerfile();
  const build = stages.find((s) => s.name === 'build');
  const policy = stages.find((s) => s.name === 'policy');
  const final = stages.at(-1);
  if (!build || !policy || !final || final === build)
    throw new Error('Dockerfile: expected policy, build and a final stage');
  const src = join(root, 'src');
  const app = join(root, 'app');
  const moveApp = (text: string) => text.replaceAll('/app', app);

  for (const file of await buildContext()) {
    mkdirSync(dirname(join(src, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(src, file));
  }
  for (const { op, args } of build.instructions) {
    if (op !== 'RUN' || args.startsWith('npm install -g')) continue;
    const script = moveApp(args).replace('pnpm install --frozen-lockfile', '$& --prefer-offline');
    const started = Date.now();
    await run('sh', ['-c', script], { cwd: src, maxBuffer: 64 * 1024 * 1024 }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`Dockerfile step failed: ${args}\n${err.stderr ?? ''}${err.stdout ?? err.message}`);
      },
    );
    log(`${args} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  // The policy stage: exec form, /opa and /policies are the image's, the bundle goes to /app.
  const opaBuild = policy.instructions.find((i) => i.op === 'RUN');
  const exec = JSON.parse(opaBuild?.args ?? '[]') as string[];
  const bundle = join(app, 'policy-bundle.tar.gz');
  await run(
    tool('opa'),
    exec
      .slice(1)
      .map((arg) => (arg === '/policies' ? join(src, 'policies') : arg === '/bundle.tar.gz' ? bundle : arg)),
  );
  const cmd = final.instructions.findLast((i) => i.op === 'CMD');
  const workdir = final.instructions.findLast((i) => i.op === 'WORKDIR')?.args;
  if (!cmd || workdir !== '/app') throw new Error('Dockerfile: the final stage needs WORKDIR /app and a CMD');
  const env = Object.fromEntries(Object.entries(stageEnv(final)).map(([k, v]) => [k, moveApp(v)]));
  return { app, env, command: JSON.parse(cmd.args) as string[] };
}
