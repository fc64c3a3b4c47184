/**
 * deploy/nats/countersign.conf, the accounts of docker-compose's nats-server, generated from
 * deploy/directory.yaml (devinfra nats-auth.ts is the one source of the permissions). Each
 * password is read from nats-server's environment (COUNTERSIGN_NATS_<USER>_PASSWORD, from .env).
 * test/compose.test.ts checks the committed file is what this writes.
 *
 *   node --import tsx scripts/nats-config.ts --write       # after editing the directory
 *   node --import tsx scripts/nats-config.ts --passwords   # fresh .env lines, one per user
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NatsAuth, natsAuthConfig, natsUsers, passwordVariable, REPO_ROOT } from '@countersign/devinfra';
import { Directory } from '../packages/runtime/src/directory/index.js';

export const DIRECTORY = join(REPO_ROOT, 'deploy/directory.yaml');
export const COMPOSE_NATS_CONFIG = join(REPO_ROOT, 'deploy/nats/countersign.conf');

const HEADER = `# Generated from deploy/directory.yaml by scripts/nats-config.ts: do not edit, run
#   node --import tsx scripts/nats-config.ts --write
# docker-compose.yml's nats-server includes it (-c). One account holds the streams; the services
# approval, policy and notifier each have a least-privilege user, ops has every permission, and
# each person and requesting system of the directory has a user that may publish actor-bound
# commands only under its own identity (approval.decide.<identity>, approval.requested.<identity>,
# ...) and read replies only on its own inbox prefix (_INBOX_<identity>). nats-server reads each
# password from its environment: COUNTERSIGN_NATS_<USER>_PASSWORD, set in .env.
`;

/** The configuration text for the directory in `directoryText`. */
export function composeNatsConfig(directoryText: string): string {
  return `${HEADER}\n${natsAuthConfig(Directory.parse(directoryText), 'environment')}`;
}

/** The password variables the configuration reads, one per user, in its order. */
export function composePasswordVariables(directoryText: string): string[] {
  return natsUsers(Directory.parse(directoryText)).map(({ user }) => passwordVariable(user));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = readFileSync(DIRECTORY, 'utf8');
  if (process.argv.includes('--write')) {
    writeFileSync(COMPOSE_NATS_CONFIG, composeNatsConfig(text));
    console.log(`wrote ${COMPOSE_NATS_CONFIG}`);
  } else if (process.argv.includes('--passwords')) {
    const auth = NatsAuth.of(Directory.parse(text));
    for (const [user, password] of Object.entries(auth.passwords)) {
      console.log(`${passwordVariable(user)}=${password}`);
    }
  } else {
    process.stdout.write(composeNatsConfig(text));
  }
}
