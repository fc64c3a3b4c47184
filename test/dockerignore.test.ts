/**
 * The Docker build context, computed as Docker computes it from .dockerignore (with
 * @balena/dockerignore, a matcher that follows Docker's rules: Go filepath.Match patterns, `**`,
 * `!` exceptions where the last match wins, a matched directory excluding what is inside it),
 * without a Docker engine. `COPY . .` puts the whole context into the images, so a secret file in
 * the context is a secret baked into every image and every registry that stores it.
 */
import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@countersign/devinfra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
// A CommonJS module whose types declare an ES default export it does not have: load it as CommonJS.
const ignore = createRequire(import.meta.url)(
  '@balena/dockerignore',
) as typeof import('@balena/dockerignore').default;

/** Every file under root, as Docker walks it (symlinks are sent as links, not followed). */
function walk(root: string, dir = root): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (lstatSync(path).isDirectory()) files.push(...walk(root, path));
    else files.push(relative(root, path).split(sep).join('/'));
  }
  return files;
}

/** The files `docker build` would send for a directory holding this .dockerignore. */
function buildContext(root: string): string[] {
  const matcher = ignore().add(readFileSync(join(root, '.dockerignore'), 'utf8'));
  return walk(root).filter((file) => !matcher.ignores(file));
}

/** Secret files a developer's checkout plausibly holds, next to the committed files. */
const PLANTED = [
  '.env',
  '.env.production',
  '.env.local',
  'services/x/.env',
  'services/approval/.env.staging',
  'deploy/.env',
  // The run command's dev data with its cache pointed inside the repository
  // (COUNTERSIGN_CACHE=.cache/countersign or XDG_CACHE_HOME=.cache), then at another name.
  '.cache/countersign/dev/nats-passwords.json',
  '.cache/countersign/dev/review-link-secret',
  '.cache/countersign/dev/api-token',
  '.cache/countersign/dev/pgdata/PG_VERSION',
  'dev-cache/countersign/dev/nats-passwords.json',
  'dev-cache/countersign/dev/review-link-secret',
  // NATS credentials and TLS keys.
  'deploy/nats/frank.creds',
  'deploy/nats/operator.nk',
  'deploy/tls/server.key',
  'deploy/tls/server.pem',
  // Receipt signing keys where `pnpm keys generate --out` put them, and the run command's.
  'signing-keys.json',
  'deploy/signing-keys.prod.json',
  'dev-cache/countersign/dev/signing-keys.json',
];

let root: string;
let context: string[];
let tracked: string[];

beforeAll(async () => {
  const { stdout } = await run('git', ['ls-files'], { cwd: REPO_ROOT });
  tracked = stdout.split('\n').filter(Boolean);
  root = mkdtempSync(join(tmpdir(), 'docker-context-'));
  for (const file of [...tracked, ...PLANTED, 'node_modules/x/index.js', '.git/config']) {
    mkdirSync(join(root, dirname(file)), { recursive: true });
    writeFileSync(join(root, file), PLANTED.includes(file) ? 'secret-value\n' : '');
  }
  writeFileSync(join(root, '.dockerignore'), readFileSync(join(REPO_ROOT, '.dockerignore')));
  context = buildContext(root);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the Docker build context', () => {
  it('holds none of the planted secret files, nor .git or node_modules', () => {
    for (const file of PLANTED) expect(context, file).not.toContain(file);
    expect(context.filter((f) => f.startsWith('.git/') || f.includes('node_modules/'))).toEqual([]);
    // Whatever the name, nothing that looks like an env file other than the examples.
    expect(context.filter((f) => /(^|\/)\.env/.test(f) && !f.endsWith('.env.example'))).toEqual([]);
  });

  it('keeps every file the images are built from (the Dockerfile copies the context)', () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) =>
      (m[1] as string).trim().split(/\s+/).slice(0, -1),
    );
    expect(sources).toContain('.');
    for (const source of sources.filter((s) => s !== '.')) {
      expect(
        context.some((f) => f === source || f.startsWith(`${source.replace(/\/$/, '')}/`)),
        source,
      ).toBe(true);
    }
    // `COPY . .` then needs the code, the policies, the directory and the examples of env files.
    for (const file of tracked.filter((f) => /^(services|packages|policies|deploy)\//.test(f))) {
      expect(context, file).toContain(file);
    }
    expect(context).toContain('.env.example');
    expect(context).toContain('services/approval/.env.example');
  });

  it('is computed as Docker computes it: a matched directory excludes what is inside it, `!` re-includes', () => {
    const matcher = ignore().add(['secrets', '**/*.env', '!keep.env', '/rooted']);
    expect(matcher.ignores('secrets/a/b.txt')).toBe(true);
    expect(matcher.ignores('x/y/prod.env')).toBe(true);
    expect(matcher.ignores('keep.env')).toBe(false);
    expect(matcher.ignores('rooted/file')).toBe(true);
    // Unlike .gitignore, a bare name is anchored at the root of the context.
    expect(matcher.ignores('nested/secrets/a')).toBe(false);
  });
});
