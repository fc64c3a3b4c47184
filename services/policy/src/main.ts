/**
 * The policy service process. The runtime's scaffold reads the configuration, connects, logs
 * `{"msg":"ready","revision":...}` once this serves, and on SIGTERM stops the endpoints, drains
 * NATS and exits 143.
 */
import { ServiceNames } from '@countersign/contracts';
import { runService } from '@countersign/runtime';
import { PolicyEnv } from './config.js';
import { startPolicyService } from './service.js';

await runService({
  name: ServiceNames.policy,
  env: PolicyEnv,
  async start({ settings, nc, logger, directory }) {
    const policy = await startPolicyService(nc, { ...settings.policy, directory }, logger);
    const status = policy.holder.status();
    return {
      stop: [policy],
      ready: {
        revision: policy.holder.revision,
        directory_revision: status.directory_revision,
        source: status.source,
        ...(policy.metricsUrl ? { metrics_url: policy.metricsUrl } : {}),
      },
    };
  },
});
