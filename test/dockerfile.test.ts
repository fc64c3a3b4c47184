/**
 * The Dockerfile's shape, without a Docker engine: multi-stage, a current Node LTS base, the
 * services compiled and deployed with production dependencies only, no tsx or TypeScript in the
 * image, run as a user other than root; and the workspace wiring it relies on (every package
 * builds to dist/ and exports it under the condition the image's NODE_OPTIONS sets).
 * test/compiled-services.test.ts replays the build and runs what it produces.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerfile, imageNodeOptions, REPO_ROOT, stageEnv } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';
import { DIST_CONDITION, LTS_NODE } from './image-layout.js';

const stages = dockerfile();
const final = stages.at(-1);
const build = stages.find((s) => s.name === 'build');
const json = (path: string) => JSON.parse(readFileSync(join(REPO_ROOT, path), 'utf8'));
const workspace = ['packages', 'services'].flatMap((dir) =>
  readdirSync(join(REPO_ROOT, dir)).map((name) => `${dir}/${name}`),
);

describe('the Dockerfile', () => {
  it('builds in stages and ships only the last one, on the current Node LTS', () => {
    expect(stages.map((s) => s.name ?? '(image)')).toEqual(['policy', 'build', '(image)']);
    const major = LTS_NODE.split('.')[0];
    for (const stage of [build, final])
      expect(stage?.from).toMatch(new RegExp(`^node:${major}-[a-z]+-slim$`));
    // The image takes files from the other stages only: nothing of the build context directly.
    const copies = final?.instructions.filter((i) => i.op === 'COPY') ?? [];
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) expect(copy.args).toMatch(/^--from=(build|policy) /);
    expect(final?.instructions.filter((i) => i.op === 'RUN')).toEqual([]);
  });

  it('compiles, then deploys every service with its production dependencies only', () => {
    const runs = build?.instructions.filter((i) => i.op === 'RUN').map((i) => i.args) ?? [];
    expect(runs).toContain('pnpm build');
    const deploy = runs.find((r) => r.includes(' deploy '));
    expect(deploy).toMatch(/deploy --prod /);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell variable of the Dockerfile's loop
    expect(deploy).toContain('/app/services/${service}');
    expect(deploy).toMatch(/for service in policy approval notifier mcp;/);
  });

  it('runs the compiled entry point with plain node, as a user other than root', () => {
    const instructions = final?.instructions ?? [];
    const text = instructions.map((i) => `${i.op} ${i.args}`).join('\n');
    expect(text).not.toMatch(/tsx|\.ts\b|typescript/);
    const user = instructions.findLast((i) => i.op === 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(JSON.parse(instructions.findLast((i) => i.op === 'CMD')?.args ?? '[]')).toEqual([
      'sh',
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the image's SERVICE, expanded by sh
      'exec node services/${SERVICE}/dist/main.js',
    ]);
    const env = stageEnv(final ?? { from: '', instructions: [] });
    expect(env.NODE_ENV).toBe('production');
    // The compiled dist/ condition, and heap limits sized for these services (docs/benchmarks.md):
    // the benchmark and the compiled-services test start the services with these same flags.
    expect(imageNodeOptions()).toEqual([
      `--conditions=${DIST_CONDITION}`,
      expect.stringMatching(/^--max-semi-space-size=\d+$/),
      expect.stringMatching(/^--max-old-space-size=\d+$/),
    ]);
    expect(env.NODE_OPTIONS).toBe(imageNodeOptions().join(' '));
    expect(env.POLICY_BUNDLE).toBe('/app/policy-bundle.tar.gz');
  });
});

describe('the workspace the image is built from', () => {
  it('builds every package and service to dist/ with one tsc -b', () => {
    expect(json('package.json').scripts.build).toBe('tsc -b tsconfig.build.json');
    const references = json('tsconfig.build.json').references.map((r: { path: string }) => r.path);
    expect(references.sort()).toEqual(workspace.map((dir) => `${dir}/tsconfig.build.json`).sort());
    for (const dir of workspace) {
      const config = json(`${dir}/tsconfig.build.json`);
      expect(config.compilerOptions, dir).toMatchObject({
        outDir: 'dist',
        rootDir: 'src',
        declaration: true,
      });
      expect(config.exclude, dir).toContain('src/**/*.test.ts');
    }
  });

  it('exports each package sources by default and dist/ under the image condition', () => {
    for (const dir of workspace.filter((d) => d.startsWith('packages/'))) {
      const { exports } = json(`${dir}/package.json`);
      for (const [subpath, target] of Object.entries(exports as Record<string, Record<string, unknown>>)) {
        const source = target.default as string;
        expect(source, `${dir} ${subpath}`).toMatch(/^\.\/src\/.+\.ts$/);
        expect(existsSync(join(REPO_ROOT, dir, source)), `${dir} ${subpath}`).toBe(true);
        const js = source.replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '.js');
        expect(target[DIST_CONDITION], `${dir} ${subpath}`).toEqual({
          types: js.replace(/\.js$/, '.d.ts'),
          default: js,
        });
      }
    }
  });

  it('deploys a service as its dist/ and migrations, never its sources or tests', () => {
    for (const dir of workspace) {
      const files: string[] = json(`${dir}/package.json`).files ?? [];
      expect(files, dir).toContain('dist');
      expect(
        files.filter((f) => /^(src|test)\b/.test(f)),
        dir,
      ).toEqual([]);
      if (existsSync(join(REPO_ROOT, dir, 'migrations'))) expect(files, dir).toContain('migrations');
    }
  });
});
