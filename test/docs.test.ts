/**
 * The docs stay true to the code: the configuration reference in docs/operations.md is exactly
 * what scripts/env-reference.ts generates from the services' schemas, and every relative link
 * in the READMEs and docs points at a file that exists.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';
import { BEGIN, END, envReference, OPERATIONS_DOC, withReference } from '../scripts/env-reference.js';
import { ApprovalEnv } from '../services/approval/src/config.js';
import { McpEnv } from '../services/mcp/src/config.js';
import { NotifierEnv } from '../services/notifier/src/config.js';
import { PolicyEnv } from '../services/policy/src/config.js';

describe('docs/operations.md', () => {
  it('has the configuration reference the schemas generate (pnpm exec tsx scripts/env-reference.ts --write)', () => {
    const doc = readFileSync(OPERATIONS_DOC, 'utf8');
    expect(doc).toContain(BEGIN);
    expect(doc).toContain(END);
    expect(doc).toBe(withReference(doc));
  });

  it('lists every variable of every service', () => {
    const reference = envReference();
    for (const schema of [PolicyEnv, ApprovalEnv, NotifierEnv, McpEnv]) {
      for (const key of Object.keys(schema.in.shape)) expect(reference).toContain(`| \`${key}\``);
    }
  });
});

describe('README.md', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

  it('leads with the paragraph and the two commands', () => {
    const [title, paragraph, heading, block] = readme.split('\n\n');
    expect(title).toBe('# Countersign');
    expect(paragraph).toMatch(/^Countersign is a policy-driven human-in-the-loop approval system\./);
    expect(heading).toBe('## Two commands');
    expect(
      block
        ?.split('\n')
        .slice(1, 3)
        .map((l) => l.split('#')[0]?.trim()),
    ).toEqual(['bash scripts/run.sh', 'bash scripts/test.sh']);
  });

  it('shows examples/quickstart.ts as it is, and runs only examples that exist', () => {
    const snippet = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toBe(readFileSync(join(REPO_ROOT, 'examples/quickstart.ts'), 'utf8'));
    const runs = [...readme.matchAll(/node --import tsx (\S+\.ts)/g)].map((m) => m[1] as string);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    for (const file of runs) expect(existsSync(join(REPO_ROOT, file)), file).toBe(true);
  });
});

function markdownFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs')).map((f) => `docs/${f}`);
  const examples = readdirSync(join(REPO_ROOT, 'examples')).map((f) => `examples/${f}`);
  return ['README.md', ...docs, ...examples].filter((f) => f.endsWith('.md'));
}

describe('links in README.md, docs/ and examples/', () => {
  it('point at files that exist', () => {
    const files = markdownFiles();
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/operations.md', 'docs/security.md']));
    for (const file of files) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target) || target.startsWith('#')) continue;
        const path = join(REPO_ROOT, dirname(file), target.split('#')[0] as string);
        expect(existsSync(path), `${file} links to ${target}`).toBe(true);
      }
    }
  });
});
