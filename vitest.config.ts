import { configDefaults, defineConfig } from 'vitest/config';

// With NATS_URL given, every file shares one server and its streams: run files one at a time.
const sharedNats = Boolean(process.env.NATS_URL);

export default defineConfig({
  test: {
    // Integration files spawn servers and services; more workers than cores only thrash.
    maxWorkers: sharedNats ? 1 : 2,
    fileParallelism: !sharedNats,
    reporters: process.env.CI ? ['default'] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          // The fault-injection suite runs minutes of load: `pnpm test:faults`, called by CI.
          exclude: [...configDefaults.exclude, 'test/faults/**'],
          globalSetup: ['packages/test-fixtures/src/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          // The second clears the results of earlier runs: the report sums this run only.
          globalSetup: ['packages/test-fixtures/src/global-setup.ts', 'test/faults/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
