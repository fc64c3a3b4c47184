import { createHmac } from 'node:crypto';
import { deriveKey, type Secret } from '@countersign/runtime';

/**
 * The keys of the audit chain. Each event's hash is an HMAC-SHA256 under a key derived (HKDF,
 * purpose `audit-chain`) from AUDIT_KEY, so a database writer without that secret cannot append
 * an event that verifies, nor rewrite one. Every row records the id of the key that chained it:
 * rotation puts a new AUDIT_KEY in force and moves the old one to AUDIT_KEYS_RETIRED, which
 * only verifies. The id is itself an HMAC of the key (never the key or the secret), so
 * a configuration and the rows it wrote can be matched without revealing either.
 */
export class AuditKeys {
  /** The key new events are chained with. */
  readonly current: AuditKey;
  readonly #byId: ReadonlyMap<string, AuditKey>;

  private constructor(current: AuditKey, all: readonly AuditKey[]) {
    this.current = current;
    this.#byId = new Map(all.map((k) => [k.id, k]));
  }

  /** The current secret and any retired ones (verify only). */
  static from(current: Secret, retired: readonly Secret[] = []): AuditKeys {
    const key = AuditKey.of(current.reveal());
    return new AuditKeys(key, [key, ...retired.map((s) => AuditKey.of(s.reveal()))]);
  }

  /** The key with this id, or undefined when it is not configured (here). */
  byId(id: string): AuditKey | undefined {
    return this.#byId.get(id);
  }

  /** Ids of every configured key, current first. */
  ids(): string[] {
    return [...this.#byId.keys()];
  }
}

/** One chain key: its id and its HMAC. */
export class AuditKey {
  readonly id: string;
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
    this.id = `ak1-${createHmac('sha256', key).update('countersign audit key id').digest('hex').slice(0, 16)}`;
  }

  static of(secret: string): AuditKey {
    return new AuditKey(deriveKey(secret, 'audit-chain'));
  }

  /** Lowercase hex HMAC-SHA256 of `text` (UTF-8). */
  mac(text: string): string {
    return createHmac('sha256', this.#key).update(text, 'utf8').digest('hex');
  }
}
