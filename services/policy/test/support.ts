/** Helpers shared by the policy service's unit and integration tests. */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ApprovalRequestInput } from '@countersign/contracts';
import { tool } from '@countersign/devinfra';
import { afterAll } from 'vitest';
import { buildBundle, readBundle } from '../src/bundle.js';
import { DEFAULT_POLICY_DIR } from '../src/config.js';
import { type LoadOptions, PolicyEngine } from '../src/engine.js';

export const opaBin = (): string => tool('opa');

/** A temporary directory removed after the test file. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `countersign-policy-${label}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of the shipped policies/ that a test may edit. */
export function copyOfPolicies(): string {
  const dir = tempDir('copy');
  cpSync(DEFAULT_POLICY_DIR, dir, { recursive: true });
  return dir;
}

/** Writes `files` (path -> content) into a fresh directory. */
export function policyDir(files: Record<string, string>): string {
  const dir = tempDir('src');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Rewrites one threshold in a policy copy's data.json. */
export function setThreshold(dir: string, name: string, value: number): void {
  const file = join(dir, 'countersign/data.json');
  const data = JSON.parse(readFileSync(file, 'utf8')) as { thresholds: Record<string, number> };
  data.thresholds[name] = value;
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

export async function buildBytes(dir: string, entrypoints?: readonly string[]): Promise<Uint8Array> {
  return (await buildBundle({ dir, opaBin: opaBin(), ...(entrypoints ? { entrypoints } : {}) })).bytes;
}

export async function loadEngine(dir: string, options?: LoadOptions): Promise<PolicyEngine> {
  return PolicyEngine.load(readBundle(await buildBytes(dir)), options);
}

/** An evaluate request with the documented defaults filled in. */
export function evaluateRequest(overrides: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  return {
    action_id: 'p1',
    action_type: 'payment',
    description: 'x',
    requested_by: 'dave',
    ...overrides,
  };
}
