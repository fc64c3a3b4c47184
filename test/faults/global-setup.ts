/**
 * Runs once at the start of every faults run (`vitest run --project faults`, whole or one
 * file): clears `.artifacts/faults`, so that report.ts sums the scenarios of this run only and
 * never a stale result left by an earlier one.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@countersign/devinfra';

export default function setup(): void {
  const dir = join(REPO_ROOT, '.artifacts/faults');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}
