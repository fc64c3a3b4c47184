import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/devinfra/src/tools.ts). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

let binDir: string | undefined;

/**
 * Directory holding the pinned opa, nats-server and nats binaries. Runs the installer, which
 * returns at once when the tools are cached and builds them with `go install` otherwise.
 */
export function toolsBinDir(): string {
  if (binDir) return binDir;
  const fromEnv = process.env.COUNTERSIGN_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'nats-server'))) {
    binDir = fromEnv;
    return binDir;
  }
  const out = execFileSync('bash', [join(REPO_ROOT, 'scripts/install-tools.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  binDir = out.trim().split('\n').at(-1) ?? '';
  if (!binDir || !existsSync(join(binDir, 'nats-server'))) {
    throw new Error(`install-tools.sh did not produce nats-server (got "${binDir}")`);
  }
  return binDir;
}

export function tool(name: 'opa' | 'nats-server' | 'nats'): string {
  return join(toolsBinDir(), name);
}
