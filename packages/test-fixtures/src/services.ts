import {
  type ServiceName,
  type ServiceProcess,
  type SpawnServiceOptions,
  startServiceProcess,
  tool,
} from '@countersign/devinfra';
import { TEST_DIRECTORY_FILE } from './directory.js';
import { onFileEnd } from './resources.js';

export type { ServiceName, ServiceProcess };

/**
 * Runs a service's `main.ts` as a real child process (tests may SIGKILL it), waits for its
 * ready line, and stops it after the test file unless `autoStop` is false. OPA_BIN defaults to
 * the pinned opa so the policy service can build its bundle.
 */
export async function spawnService(
  name: ServiceName,
  options: SpawnServiceOptions & { autoStop?: boolean },
): Promise<ServiceProcess> {
  const service = await startServiceProcess(name, {
    ...options,
    env: { OPA_BIN: tool('opa'), DIRECTORY_FILE: TEST_DIRECTORY_FILE, ...options.env },
  });
  if (options.autoStop ?? true) onFileEnd(service.stop);
  return service;
}
