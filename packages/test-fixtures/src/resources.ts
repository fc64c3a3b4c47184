import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createDatabase,
  dropDatabase,
  NatsAuth,
  type NatsLogin,
  type NatsServerHandle,
  startNatsServer,
} from '@countersign/devinfra';
import { Directory } from '@countersign/runtime';
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, inject } from 'vitest';
import { startNatsContainer, wantContainers } from './containers.js';
import { TEST_DIRECTORY_FILE } from './directory.js';

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
  /**
   * True on a server this harness started (authentication on, users generated from the test
   * directory). False on one it did not configure (NATS_URL, containers): connections carry no
   * credentials and services get NATS_AUTH=off.
   */
  auth: boolean;
  /**
   * A connection as `who`: `ops` (full access) by default, a service user (`approval`,
   * `policy`, `notifier`), or a directory identity (its user and its own inbox prefix).
   */
  connect(who?: string, options?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /** How `who` logs in (undefined on a server without authentication). */
  login(who: string): NatsLogin | undefined;
  /** The environment a process connecting as `who` needs: NATS_URL and its credentials. */
  env(who: string): Record<string, string>;
}

export interface TestNatsOptions {
  /**
   * A nats-server of the file's own, started from the local binary whatever NATS_URL or
   * containers say: a test that crashes or restarts its server, or tests authentication.
   */
  own?: boolean;
  /** The directory whose users the server gets; the test directory by default. */
  directoryFile?: string;
}

/** Handles by URL, so spawnService finds the credentials of a service started on one. */
const started = new Map<string, TestNats>();

/** The harness's handle of the server at `url`, if it started or registered one. */
export function testNatsAt(url: string): TestNats | undefined {
  return started.get(url);
}

/**
 * A private nats-server (JetStream on, authentication on with the users of the test directory
 * and fresh random passwords) for this test file, so streams and subjects never collide between
 * files running in parallel. With NATS_URL set, that server is used instead (without
 * credentials) and the config runs files one at a time; with containers asked for, a container
 * without authentication. `own` always starts one from the local binary, so that a test never
 * quietly tests less.
 */
export async function useTestNats(options: TestNatsOptions = {}): Promise<TestNats> {
  if (!options.own) {
    const external = process.env.NATS_URL;
    if (external) return register(unauthenticated(external));
    if (wantContainers()) {
      const container = await startNatsContainer();
      onFileEnd(container.stop);
      return register(unauthenticated(container.url));
    }
  }
  const auth = NatsAuth.of(await directoryOf(options.directoryFile ?? TEST_DIRECTORY_FILE));
  const server = await startNatsServer({ extraConfig: auth.config() });
  onFileEnd(server.stop);
  return register(authenticated(server.url, auth, server));
}

/** A handle on a server configured with `auth` (the fault suite's cluster, a proxied address). */
export function authenticated(url: string, auth: NatsAuth, server?: NatsServerHandle): TestNats {
  return {
    url,
    ...(server ? { server } : {}),
    auth: true,
    connect: (who = 'ops', options = {}) => {
      const login = auth.login(who);
      return connect({
        servers: url.split(','),
        user: login.user,
        pass: login.password,
        ...(login.inboxPrefix ? { inboxPrefix: login.inboxPrefix } : {}),
        ...options,
      });
    },
    login: (who) => auth.login(who),
    env: (who) => auth.env(who, url),
  };
}

function unauthenticated(url: string): TestNats {
  return {
    url,
    auth: false,
    connect: (_who, options = {}) => connect({ servers: url.split(','), ...options }),
    login: () => undefined,
    env: () => ({ NATS_URL: url, NATS_AUTH: 'off' }),
  };
}

/** Registers `nats` for spawnService's lookup by URL (forgotten after the file). */
export function register(nats: TestNats): TestNats {
  started.set(nats.url, nats);
  onFileEnd(async () => {
    started.delete(nats.url);
  });
  return nats;
}

const directories = new Map<string, Promise<Directory>>();

/** The directory in `file`, parsed once per process. */
export function directoryOf(file: string): Promise<Directory> {
  let directory = directories.get(file);
  if (!directory) {
    directory = readFile(file, 'utf8').then((text) => Directory.parse(text));
    directories.set(file, directory);
  }
  return directory;
}
