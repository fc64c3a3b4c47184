import { startPostgres } from '@countersign/devinfra';
import type { TestProject } from 'vitest/node';
import { startPostgresContainer, wantContainers } from './containers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the test PostgreSQL server; each test file creates its own database. */
    adminDatabaseUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run (each file gets its own database in it): DATABASE_URL when
 * given, a container when asked for, else a private server from local binaries. Teardown runs
 * after failures too, and devinfra kills its children if the runner itself exits.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) {
    project.provide('adminDatabaseUrl', process.env.DATABASE_URL);
    return async () => {};
  }
  if (wantContainers()) {
    const container = await startPostgresContainer();
    project.provide('adminDatabaseUrl', container.url);
    return container.stop;
  }
  // Tests crash services, not the database: durability settings off make the suite faster.
  const pg = await startPostgres({ durable: false });
  project.provide('adminDatabaseUrl', pg.url);
  return pg.stop;
}
