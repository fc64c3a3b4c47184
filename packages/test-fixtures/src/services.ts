import {
  type ServiceName,
  type ServiceProcess,
  type SpawnServiceOptions,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';
import { TEST_AUDIT_KEY } from './audit-key.js';
import { TEST_DIRECTORY_FILE } from './directory.js';
import { onFileEnd, type TestNats, testNatsAt } from './resources.js';
import { testSigningKeysFile } from './signing-keys.js';

export type { ServiceName, ServiceProcess };

/**
 * Runs a service's `main.ts` as a real child process (tests may SIGKILL it), waits for its
 * ready line, and stops it after the test file unless `autoStop` is false. OPA_BIN defaults to
 * the pinned opa so the policy service can build its bundle, DIRECTORY_FILE to the test
 * directory and SIGNING_KEYS_FILE to this process's key set (testSigningKeysFile).
 *
 * NATS credentials: the service connects as its own user (`approval`, `policy`, `notifier`).
 * They come from `nats` when given (a proxied or clustered address), else from the test
 * server whose URL is the env's NATS_URL; an env that sets NATS_USER, NATS_CREDS or NATS_AUTH
 * itself is left alone.
 */
export async function spawnService(
  name: ServiceName,
  options: SpawnServiceOptions & { autoStop?: boolean; nats?: TestNats },
): Promise<ServiceProcess> {
  const service = await startServiceProcess(name, {
    ...options,
    env: {
      OPA_BIN: tool('opa'),
      DIRECTORY_FILE: TEST_DIRECTORY_FILE,
      // The approval service keys its audit chain with it (tests verify the chains); others ignore it.
      AUDIT_KEY: TEST_AUDIT_KEY,
      // The approval service signs receipts with it (unless the env gives SIGNING_KEYS inline);
      // the others ignore it.
      ...(options.env.SIGNING_KEYS ? {} : { SIGNING_KEYS_FILE: testSigningKeysFile() }),
      ...credentialsOf(name, options),
      ...options.env,
    },
  });
  if (options.autoStop ?? true) onFileEnd(service.stop);
  return service;
}

function credentialsOf(name: ServiceName, options: SpawnServiceOptions & { nats?: TestNats }) {
  const { env } = options;
  if (env.NATS_USER || env.NATS_CREDS || env.NATS_AUTH) return {};
  const nats = options.nats ?? (env.NATS_URL ? testNatsAt(env.NATS_URL) : undefined);
  if (!nats) return {};
  const { NATS_URL: _url, ...credentials } = nats.env(name);
  return credentials;
}
