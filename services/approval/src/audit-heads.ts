/**
 * Signed audit heads, published outside PostgreSQL. After every transaction that extends chains
 * (an intake batch, a decision, a cancel, a report, an expiry sweep) the new last event of each
 * chain, (action_id, seq, hash), is signed with the Ed25519 keyring and published to the
 * AUDIT_HEADS stream; a checkpoint on a schedule republishes the head of every chain, so that
 * approvals nobody touched lately stay covered while the stream ages old messages out.
 *
 * What it buys (docs/security.md, "Tamper evidence"): whoever rewrites the database, even with
 * the audit key, cannot change what was published: a chain whose event at a published seq has
 * another hash, is shorter than published, or is gone, is found by `pnpm verify-audit`.
 */
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { Subjects } from '@countersign/contracts';
import { type Logger, query } from '@countersign/runtime';
import type { JetStreamClient } from '@nats-io/jetstream';
import type pg from 'pg';
import type { AuditHead } from './audit.js';

/** The JWS `typ` of a heads message: explicit, so no other signed token passes for one. */
export const HEADS_TYP = 'countersign-audit-heads+jws';

/** Heads per message: a checkpoint of many chains is published in parts of this size. */
export const HEADS_PER_MESSAGE = 500;

/** What signs heads: the service's Ed25519 keyring (runtime's `Keyring`). */
export interface HeadSigner {
  sign(payload: Record<string, unknown>, typ: string): string;
}

/** The signed content of one heads message. */
export interface HeadsPayload {
  /** `batch`: chains a transaction just extended; `checkpoint`: a part of every chain's head. */
  kind: 'batch' | 'checkpoint';
  /** RFC 3339, when it was signed. */
  published_at: string;
  /** A checkpoint's parts share its id; the last part says `final`. */
  checkpoint?: { id: string; part: number; final: boolean };
  heads: AuditHead[];
}

export interface AuditHeadsOptions {
  pool: pg.Pool;
  js: JetStreamClient;
  signer: HeadSigner;
  logger: Logger;
  /** How often every chain's head is republished. */
  checkpointIntervalMs: number;
  /** How long to wait for each PubAck. */
  publishTimeoutMs: number;
}

export interface AuditHeads {
  /** Publishes heads a committed transaction wrote (soon, coalesced with others; never throws). */
  published(heads: readonly AuditHead[]): void;
  /** Publishes every chain's head now; resolves to how many. */
  checkpoint(): Promise<number>;
  /** Stops the schedule and publishes what is still queued. */
  stop(): Promise<void>;
}

/** Starts the publisher and its checkpoint schedule (the first checkpoint runs at once). */
export function startAuditHeads(options: AuditHeadsOptions): AuditHeads {
  const log = options.logger.child({ component: 'audit-heads' });
  const queued = new Map<string, AuditHead>();
  let flushing: Promise<void> | undefined;
  let stopped = false;

  const publish = async (payload: HeadsPayload): Promise<void> => {
    const jws = options.signer.sign({ ...payload }, HEADS_TYP);
    await options.js.publish(Subjects.auditHeads, jws, { timeout: options.publishTimeoutMs });
  };

  const flush = async (): Promise<void> => {
    while (queued.size > 0) {
      const heads = [...queued.values()].slice(0, HEADS_PER_MESSAGE);
      for (const head of heads) queued.delete(head.action_id);
      try {
        await publish({ kind: 'batch', published_at: new Date().toISOString(), heads });
      } catch (err) {
        // The next checkpoint publishes these chains' heads; meanwhile they are only as safe
        // as the database.
        log.warn({ err, heads: heads.length }, 'audit heads not published: the next checkpoint covers them');
      }
    }
  };

  const kick = () => {
    flushing ??= flush().finally(() => {
      flushing = undefined;
      if (queued.size > 0 && !stopped) kick();
    });
  };

  const checkpoint = async (): Promise<number> => {
    const id = randomUUID();
    let after = '';
    let part = 0;
    let total = 0;
    for (;;) {
      // Keyset pages of the chains' last events, by the primary key's order.
      const page = await query<AuditHead>(
        options.pool,
        `select distinct on (action_id) action_id, seq, hash from approval.audit_events
          where action_id > $1 order by action_id, seq desc limit $2`,
        [after, HEADS_PER_MESSAGE],
      );
      const final = page.rows.length < HEADS_PER_MESSAGE;
      part++;
      total += page.rows.length;
      await publish({
        kind: 'checkpoint',
        published_at: new Date().toISOString(),
        checkpoint: { id, part, final },
        heads: page.rows,
      });
      if (final) break;
      // Stopping: the next start publishes a whole checkpoint again.
      if (stopped) return total;
      after = page.rows.at(-1)?.action_id ?? after;
    }
    log.info({ checkpoint: id, chains: total, parts: part }, 'audit heads checkpoint published');
    return total;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const scheduled = () => {
    running = checkpoint()
      .catch((err: unknown) => log.warn({ err }, 'audit heads checkpoint failed: retried at the next one'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(scheduled, options.checkpointIntervalMs);
      });
  };
  timer = setTimeout(scheduled, 0);

  return {
    published(heads) {
      if (stopped || heads.length === 0) return;
      for (const head of heads) {
        const known = queued.get(head.action_id);
        if (!known || known.seq < head.seq) queued.set(head.action_id, head);
      }
      kick();
    },
    checkpoint,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // Bounded by a publish timeout or two: a checkpoint stops between parts, and what is still
      // queued is published once (the next start's checkpoint covers it otherwise).
      await running;
      await flushing;
      await flush();
    },
  };
}

/** A public Ed25519 JWK, as the JWKS publishes it. */
export interface HeadsPublicKey {
  kty: string;
  crv?: string;
  x?: string;
  kid?: string;
}

export type HeadsVerdict = { ok: true; kid: string; payload: HeadsPayload } | { ok: false; problem: string };

/**
 * Checks one heads message: a compact JWS, EdDSA, `typ` {@link HEADS_TYP}, signed by a key of
 * `keys` (the JWKS, or the key file's keys). What it does not prove is that the message is the
 * latest: the verifier reads the whole stream for that.
 */
export function verifyHeads(jws: string, keys: readonly HeadsPublicKey[]): HeadsVerdict {
  const parts = jws.split('.');
  if (parts.length !== 3) return { ok: false, problem: 'not a compact JWS' };
  const [header64, body64, signature64] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  let payload: HeadsPayload;
  try {
    header = JSON.parse(Buffer.from(header64, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(body64, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, problem: 'header or payload is not JSON' };
  }
  if (header.alg !== 'EdDSA') return { ok: false, problem: `alg ${String(header.alg)} is not EdDSA` };
  if (header.typ !== HEADS_TYP)
    return { ok: false, problem: `typ ${String(header.typ)} is not ${HEADS_TYP}` };
  const jwk = keys.find((k) => k.kid === header.kid && k.kty === 'OKP' && k.crv === 'Ed25519');
  if (!jwk?.x)
    return { ok: false, problem: `signed by key ${String(header.kid)}, which is not in the key set` };
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  const signed = verify(
    null,
    Buffer.from(`${header64}.${body64}`),
    key,
    Buffer.from(signature64, 'base64url'),
  );
  if (!signed) return { ok: false, problem: 'signature does not verify' };
  if (!Array.isArray(payload.heads)) return { ok: false, problem: 'payload has no heads' };
  return { ok: true, kid: header.kid as string, payload };
}
