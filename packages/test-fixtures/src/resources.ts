import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase, type NatsServerHandle, startNatsServer } from '@countersign/devinfra';
import { afterAll, inject } from 'vitest';
import { startNatsContainer, wantContainers } from './containers.js';

/**
 * Cleanups of everything this file's fixtures started, run after the file's tests. Registered
 * once when the module loads (at file level), so fixtures work even when a test creates them
 * inside `beforeAll`, where a nested `afterAll` would never run.
 */
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((err: unknown) => errors.push(err));
  }
  if (errors.length > 0) throw new AggregateError(errors, 'test fixture cleanup failed');
});

/** Runs `fn` after the current test file, in reverse order of registration. */
export function onFileEnd(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export interface TestDatabase {
  url: string;
  name: string;
}

/** A fresh database for this test file, dropped after the file's tests. */
export async function useTestDatabase(label = 'test'): Promise<TestDatabase> {
  const admin = inject('adminDatabaseUrl');
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30);
  const name = `cs_${safe}_${randomBytes(4).toString('hex')}`;
  const url = await createDatabase(admin, name);
  onFileEnd(() => dropDatabase(admin, name));
  return { url, name };
}

export interface TestNats {
  url: string;
  /** Present for a server this harness started: tests may crash and restart it. */
  server?: NatsServerHandle;
}

/**
 * A private nats-server (JetStream on) for this test file, so streams and subjects never collide
 * between files running in parallel. With NATS_URL set, that server is used instead and the
 * config runs files one at a time, unless `own` is set: a test that crashes or restarts its
 * server always gets one of its own (started from the local binary), whatever the environment,
 * so that it never quietly tests less.
 */
export async function useTestNats(options: { own?: boolean } = {}): Promise<TestNats> {
  if (options.own) {
    const server = await startNatsServer();
    onFileEnd(server.stop);
    return { url: server.url, server };
  }
  if (process.env.NATS_URL) return { url: process.env.NATS_URL };
  if (wantContainers()) {
    const container = await startNatsContainer();
    onFileEnd(container.stop);
    return { url: container.url };
  }
  const server = await startNatsServer();
  onFileEnd(server.stop);
  return { url: server.url, server };
}
