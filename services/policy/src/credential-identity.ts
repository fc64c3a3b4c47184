/**
 * Who runs `pnpm policy publish` / `promote`, as their NATS credential proves it: the subjects
 * they send to (`policy.propose.<identity>`, `approval.submit.<identity>`) must name the identity
 * nats-server lets that user publish under. Getting it wrong here cannot impersonate anyone (the
 * server refuses another identity's subject); it only decides where the CLI sends.
 */
import { Directory } from '@countersign/runtime';

export class CredentialIdentityError extends Error {}

export interface CredentialSource {
  /** NATS_USER. */
  user?: string | undefined;
  /** The text of the NATS_CREDS file, if one is used. */
  creds?: string | undefined;
  /** The text of DIRECTORY_FILE, if one is set: it maps a NATS user to its identity. */
  directory?: string | undefined;
  /**
   * Whether ops (or no credential, NATS_AUTH=off) will do: `activate`, which only asks the
   * policy service to check an approval. Then undefined is returned for them.
   */
  opsAllowed?: boolean;
}

/**
 * The identity of NATS_USER (through the directory when given, else the user name itself, the
 * directory's default `nats_user`), or the `name` of a NATS_CREDS user JWT (operator mode names
 * each user by its identity). Ops is refused unless `opsAllowed`: a proposal is a person's.
 */
export function credentialIdentity(source: CredentialSource): string | undefined {
  const { user } = source;
  if (user === 'ops') {
    if (source.opsAllowed) return undefined;
    throw new CredentialIdentityError(
      'ops cannot propose a policy change: the proposer is who the credential proves, so publish with your own NATS credentials (NATS_USER and NATS_PASSWORD, or NATS_CREDS)',
    );
  }
  if (user) {
    if (source.directory === undefined) return user;
    const principal = Directory.parse(source.directory).identityOfNatsUser(user);
    if (!principal) throw new CredentialIdentityError(`NATS user ${user} is nobody in the directory`);
    return principal.id;
  }
  if (source.creds !== undefined) {
    const name = credsName(source.creds);
    if (name) return name;
    throw new CredentialIdentityError('NATS_CREDS: the file holds no user JWT naming your identity');
  }
  if (source.opsAllowed) return undefined;
  throw new CredentialIdentityError(
    'policy changes are proposed as yourself: set NATS_USER and NATS_PASSWORD (or NATS_CREDS) of your own NATS user',
  );
}

/** The `name` claim of the user JWT in a .creds file, if it holds one. */
function credsName(text: string): string | undefined {
  const jwt = /-----BEGIN NATS USER JWT-----\s+(\S+)\s+-+END NATS USER JWT-+/.exec(text)?.[1];
  try {
    const claims = JSON.parse(Buffer.from(jwt?.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof claims?.name === 'string' && claims.name ? claims.name : undefined;
  } catch {
    return undefined;
  }
}
