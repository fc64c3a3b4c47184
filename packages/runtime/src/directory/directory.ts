import { createHash } from 'node:crypto';
import { canonicalIdentity, fieldIssues, isSystemActor } from '@countersign/contracts';
import { parse as parseYaml } from 'yaml';
import { DirectoryFile, type PersonEntry, type ServiceEntry } from './schema.js';

/** A person or a requesting system, keyed by its canonical identity. */
export type Principal =
  | ({ kind: 'person'; id: string; nats_user: string } & Omit<PersonEntry, 'nats_user'>)
  | ({ kind: 'service'; id: string; nats_user: string } & Omit<ServiceEntry, 'nats_user'>);

export interface OidcClaims {
  sub: string;
  email?: string | undefined;
  email_verified?: boolean | undefined;
}

/** The file's section an entry of this kind is in, for messages that name it. */
function sectionOf(kind: Principal['kind']): string {
  return kind === 'person' ? 'people' : 'services';
}

/** A directory file that cannot be used; `problems` name each entry's path. */
export class DirectoryError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid directory: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
  }
}

/**
 * The one directory of people and requesting systems: roles for the policy, contacts for the
 * notifier, and the mapping from a proven credential (NATS user, OpenID Connect subject or
 * verified email) to an identity for the approval service. Immutable: a reload builds a new one.
 */
export class Directory {
  private constructor(
    /** sha256 of the file's bytes, shortened: logged on every load so a change can be traced. */
    readonly revision: string,
    private readonly byId: ReadonlyMap<string, Principal>,
    private readonly byNatsUser: ReadonlyMap<string, Principal>,
    private readonly byOidcSubject: ReadonlyMap<string, Principal>,
    private readonly byEmail: ReadonlyMap<string, Principal>,
    private readonly bySlackUser: ReadonlyMap<string, Principal>,
  ) {}

  /** Parses YAML or JSON text; throws DirectoryError naming every problem. */
  static parse(text: string): Directory {
    let raw: unknown;
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new DirectoryError([`not valid YAML or JSON: ${(err as Error).message}`]);
    }
    const parsed = DirectoryFile.safeParse(raw);
    if (!parsed.success) {
      throw new DirectoryError(fieldIssues(parsed.error).map((f) => `${f.path}: ${f.message}`));
    }
    return Directory.build(parsed.data, createHash('sha256').update(text).digest('hex').slice(0, 12));
  }

  private static build(file: DirectoryFile, revision: string): Directory {
    const problems: string[] = [];
    const byId = new Map<string, Principal>();
    const byNatsUser = new Map<string, Principal>();
    const byOidcSubject = new Map<string, Principal>();
    const byEmail = new Map<string, Principal>();
    const bySlackUser = new Map<string, Principal>();
    const claim = <K>(index: Map<K, Principal>, key: K, principal: Principal, what: string) => {
      const holder = index.get(key);
      if (holder)
        problems.push(`${sectionOf(principal.kind)}.${principal.id}: ${what} is also ${holder.id}'s`);
      else index.set(key, principal);
    };
    const entries: [string, Principal['kind'], PersonEntry | ServiceEntry][] = [
      ...Object.entries(file.people).map(([key, e]) => [key, 'person', e] as [string, 'person', PersonEntry]),
      ...Object.entries(file.services).map(
        ([key, e]) => [key, 'service', e] as [string, 'service', ServiceEntry],
      ),
    ];
    for (const [key, kind, entry] of entries) {
      const canonical = canonicalIdentity(key);
      if (!canonical.ok) {
        problems.push(`${sectionOf(kind)}.${key}: ${canonical.message}`);
        continue;
      }
      const id = canonical.identity;
      if (isSystemActor(id)) {
        problems.push(
          `${kind === 'person' ? 'people' : 'services'}.${key}: "${id}" is reserved for Countersign`,
        );
        continue;
      }
      const principal = { ...entry, kind, id, nats_user: entry.nats_user ?? id } as Principal;
      claim(byId, id, principal, 'the identity');
      claim(byNatsUser, principal.nats_user, principal, `NATS user "${principal.nats_user}"`);
      if (principal.kind === 'person') {
        if (principal.oidc?.subject)
          claim(byOidcSubject, principal.oidc.subject, principal, 'the OpenID subject');
        const email = principal.oidc?.email ?? principal.email;
        if (email) claim(byEmail, email.toLowerCase(), principal, `email ${email}`);
        // A Slack click is mapped to the one person holding the member id: never two.
        if (principal.slack_user)
          claim(bySlackUser, principal.slack_user, principal, `Slack member ${principal.slack_user}`);
      }
    }
    Directory.checkActsFor(byId, problems);
    if (problems.length > 0) throw new DirectoryError(problems);
    return new Directory(revision, byId, byNatsUser, byOidcSubject, byEmail, bySlackUser);
  }

  /**
   * `acts_for` names requesting systems of this file, canonically, and none of them acts for
   * others in turn: a gateway may speak for agents, never for a person or another gateway.
   */
  private static checkActsFor(byId: Map<string, Principal>, problems: string[]): void {
    const gateways = new Set(
      [...byId.values()].filter((p) => p.kind === 'service' && p.acts_for.length > 0).map((p) => p.id),
    );
    for (const principal of byId.values()) {
      if (principal.kind !== 'service') continue;
      const canonical: string[] = [];
      for (const name of principal.acts_for) {
        const id = canonicalIdentity(name);
        const target = id.ok ? byId.get(id.identity) : undefined;
        if (!id.ok || !target)
          problems.push(`services.${principal.id}.acts_for: ${name} is not in the directory`);
        else if (target.kind !== 'service' || gateways.has(target.id)) {
          problems.push(
            `services.${principal.id}.acts_for: ${name} must be a requesting system that acts for nobody`,
          );
        } else canonical.push(target.id);
      }
      principal.acts_for = canonical;
    }
  }

  /** Whether `gateway` may act as `agent` (its directory entry lists the agent in `acts_for`). */
  actsFor(gateway: string, agent: string): boolean {
    const principal = this.byId.get(gateway);
    return principal?.kind === 'service' && principal.acts_for.includes(agent);
  }

  /** The entry for a canonical identity. */
  get(id: string): Principal | undefined {
    return this.byId.get(id);
  }

  person(id: string): Extract<Principal, { kind: 'person' }> | undefined {
    const principal = this.byId.get(id);
    return principal?.kind === 'person' ? principal : undefined;
  }

  /** The identity a server-authenticated NATS user acts as. */
  identityOfNatsUser(user: string): Principal | undefined {
    return this.byNatsUser.get(user);
  }

  /**
   * The person an OpenID Connect sign-in is: by `sub` when an entry names it, else by email, and
   * then only when the provider says the email is verified.
   */
  identityOfOidc(claims: OidcClaims): Extract<Principal, { kind: 'person' }> | undefined {
    const bySubject = this.byOidcSubject.get(claims.sub);
    if (bySubject?.kind === 'person') return bySubject;
    if (!claims.email || claims.email_verified !== true) return undefined;
    const byEmail = this.byEmail.get(claims.email.toLowerCase());
    return byEmail?.kind === 'person' ? byEmail : undefined;
  }

  /** The person a Slack member id (from a signature-verified Slack request) is, by `slack_user`. */
  identityOfSlackUser(slackUser: string): Extract<Principal, { kind: 'person' }> | undefined {
    const principal = this.bySlackUser.get(slackUser);
    return principal?.kind === 'person' ? principal : undefined;
  }

  rolesOf(id: string): readonly string[] {
    return this.byId.get(id)?.roles ?? [];
  }

  /** Every identity holding one of `roles`, sorted. */
  membersOf(roles: readonly string[]): string[] {
    const members = new Set<string>();
    for (const principal of this.byId.values()) {
      if (principal.roles.some((role) => roles.includes(role))) members.add(principal.id);
    }
    return [...members].sort();
  }

  /** Whether `id` may ask for an approval of `actionType` (fail closed for systems). */
  mayRequest(id: string, actionType: string): boolean {
    const principal = this.byId.get(id);
    if (!principal) return false;
    const allowed = principal.may_request;
    if (allowed === undefined) return principal.kind === 'person';
    return allowed.includes('*') || allowed.includes(actionType);
  }

  /** Roles by identity, the shape the policy reads as `data.directory`. */
  roleMap(): Record<string, string[]> {
    const map: Record<string, string[]> = {};
    for (const principal of [...this.byId.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      map[principal.id] = [...principal.roles];
    }
    return map;
  }

  principals(): Principal[] {
    return [...this.byId.values()];
  }
}
