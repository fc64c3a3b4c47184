/**
 * The Dockerfile read as data (stages, and each stage's instructions on one line), so the
 * image's shape can be tested without a Docker engine and what the image runs (its ENV, such as
 * the Node flags in NODE_OPTIONS) has one source: the compiled-services test and the benchmark
 * both start the services with it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './tools.js';

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** The Dockerfile's stages, each instruction on one line (continuations joined, comments dropped). */
export function dockerfileStages(text: string): Stage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const stages: Stage[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const [from = '', , name] = args.split(/\s+/);
      stages.push({ from, ...(name ? { name } : {}), instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: args.replace(/\s+/g, ' ') });
  }
  return stages;
}

/** `ENV A=1 B="two words"` of a stage, merged in order (double quotes hold spaces, as Docker's). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { op, args } of stage.instructions) {
    if (op !== 'ENV') continue;
    for (const [, key = '', quoted, bare] of args.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g)) {
      env[key] = quoted ?? bare ?? '';
    }
  }
  return env;
}

export const dockerfile = (): Stage[] =>
  dockerfileStages(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));

/** The Node flags the image runs every service with (its final stage's NODE_OPTIONS). */
export function imageNodeOptions(): string[] {
  const final = dockerfile().at(-1);
  const options = final ? stageEnv(final).NODE_OPTIONS : undefined;
  if (!options) throw new Error('Dockerfile: the final stage sets no NODE_OPTIONS');
  return options.split(' ').filter(Boolean);
}
