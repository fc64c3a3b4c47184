/**
 * NATS CLI contexts for the dev run: one per directory identity (named after it: `nats --context
 * frank …` acts as frank; not the notifier's, whose user is the service's) and `countersign-ops` for the operators' full-access user. Each holds
 * the server URL, the user and password, and the identity's inbox prefix (the only inbox its
 * user may read). Written where the NATS CLI reads them: $XDG_CONFIG_HOME/nats/context, else
 * ~/.config/nats/context. A context of the same name that this run did not write is left alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { NatsAuth } from '@countersign/devinfra';

/** Marks the contexts Countersign wrote (and may rewrite). */
const MARK = 'Countersign dev run:';

export function natsContextDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'nats', 'context');
}

export interface WrittenContexts {
  dir: string;
  written: string[];
  /** Names taken by contexts someone else wrote. */
  skipped: string[];
}

export function writeNatsContexts(auth: NatsAuth, url: string, dir = natsContextDir()): WrittenContexts {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const result: WrittenContexts = { dir, written: [], skipped: [] };
  const entries: [name: string, who: string][] = [
    // Not the notifier's entry: its user is the notifier service's own, not a CLI identity.
    ...auth
      .identities()
      .filter((id) => auth.login(id).inboxPrefix)
      .map((id): [string, string] => [id, id]),
    ['countersign-ops', 'ops'],
  ];
  for (const [name, who] of entries) {
    const file = join(dir, `${name}.json`);
    if (existsSync(file) && !isOurs(file)) {
      result.skipped.push(name);
      continue;
    }
    const login = auth.login(who);
    const context = {
      description: `${MARK} ${who === 'ops' ? 'operators (full access)' : who}`,
      url,
      user: login.user,
      password: login.password,
      ...(login.inboxPrefix ? { inbox_prefix: login.inboxPrefix } : {}),
    };
    writeFileSync(file, `${JSON.stringify(context, null, 2)}\n`, { mode: 0o600 });
    result.written.push(name);
  }
  return result;
}

function isOurs(file: string): boolean {
  try {
    return String(JSON.parse(readFileSync(file, 'utf8')).description ?? '').startsWith(MARK);
  } catch {
    return false;
  }
}
