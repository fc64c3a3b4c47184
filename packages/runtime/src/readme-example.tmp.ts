import { ServiceNames } from '@countersign/contracts';
import { CommonEnv, env, runService, runtimeSettings, startService } from '@countersign/runtime';

// Variables in, settings out; defaults only here. `DEMO_DELAY=2s` or `DEMO_DELAY=250` (ms).
const DemoEnv = CommonEnv.extend({ DEMO_DELAY: env.duration('0s', { max: 10_000 }) }).transform((v) => ({
  runtime: runtimeSettings(v),
  delayMs: v.DEMO_DELAY,
}));

await runService({
  name: 'demo',
  env: DemoEnv,
  async start({ settings, nc, logger }) {
    const service = await startService(
      nc,
      { name: ServiceNames.policy, version: '0.0.1', description: 'demo' },
      {
        policyInfo: async () => {
          await new Promise((resolve) => setTimeout(resolve, settings.delayMs));
          return { revision: 'demo', loaded_at: new Date().toISOString(), entrypoints: [], source: 'demo' };
        },
      },
      logger,
    );
    return { stop: [{ stop: async () => void (await service.stop()) }], ready: { delay_ms: settings.delayMs } };
  },
});
