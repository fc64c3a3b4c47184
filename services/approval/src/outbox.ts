import {
  type ApprovalEventKind,
  approvalEventId,
  approvalEventType,
  encodeApprovalEventFromJson,
} from '@countersign/contracts';
import {
  backoffDelay,
  contextFromCarrier,
  type Logger,
  SpanKind,
  sleeper,
  type TraceCarrier,
  traceHeaders,
  withSpan,
  withTransaction,
} from '@countersign/runtime';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import pg from 'pg';

export interface OutboxRelayOptions {
  pool: pg.Pool;
  js: JetStreamClient;
  logger: Logger;
  /** Fallback poll interval, for a missed or lost NOTIFY. */
  pollMs: number;
  /** Rows published per transaction. */
  batchSize: number;
  /** How long to wait for each PubAck. */
  publishTimeoutMs: number;
}

export interface OutboxRelay {
  /** Publish now rather than at the next poll. */
  wake(): void;
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>;
}

interface OutboxRecord {
  id: string;
  action_id: string;
  kind: ApprovalEventKind;
  /** Set for events an approval emits more than once (reminders): their own id. */
  event_id: string | null;
  subject: string;
  payload: string;
  created_at: Date;
  /** The trace to publish the event in; null when tracing was off or the request untraced. */
  trace_context: TraceCarrier | null;
}

const CHANNEL = 'approval_outbox';
/** application_name of the relay's LISTEN connection. */
export const LISTENER_NAME = 'countersign-outbox-listener';

/**
 * Publishes outbox rows to APPROVAL_EVENTS and marks them published once JetStream acked them.
 * `Nats-Msg-Id` is the event id (`approvalEventId`, never the row's serial id), and every subject
 * is published with "no message on this subject yet" as the expected last sequence: a
 * re-publication after a crash is a duplicate within the dedupe window and a "wrong last
 * sequence" refusal after it, so one approval can never have two pending or two decided events.
 * Rows are claimed with FOR UPDATE SKIP LOCKED, so several replicas share the work. Failures are
 * logged and retried with backoff; the relay never throws.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const log = options.logger.child({ component: 'outbox' });
  const wakeable = sleeper();
  const pause = sleeper();
  let stopping = false;
  let listener: pg.Client | undefined;

  /** Publishes one row; resolves to the error when it was not published (never rejects). */
  const publishOne = (row: OutboxRecord): Promise<unknown> => {
    const parent = contextFromCarrier(row.trace_context);
    if (parent === undefined) return publishUntraced(row);
    // A producer span in the approval's trace; its context travels in the event's headers, so
    // the waiter's wake-up and the notifier's deliveries continue the same trace.
    return withSpan(
      `${approvalEventType(row.kind)} publish`,
      {
        kind: SpanKind.PRODUCER,
        parent,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': row.subject,
          'countersign.action_id': row.action_id,
        },
      },
      () => publishUntraced(row),
    );
  };

  const publishUntraced = async (row: OutboxRecord): Promise<unknown> => {
    const headers = traceHeaders();
    const eventId = row.event_id ?? approvalEventId(row.action_id, row.kind);
    // The stored payload is the Approval's JSON already: wrap it as text, no re-parsing.
    const envelope = encodeApprovalEventFromJson(
      { id: eventId, type: approvalEventType(row.kind), occurred_at: row.created_at.toISOString() },
      row.payload,
    );
    try {
      await options.js.publish(row.subject, envelope, {
        msgID: eventId,
        // Reminders repeat on their subject, so only their event id deduplicates them.
        ...(row.kind === 'reminder' ? {} : { expect: { lastSubjectSequence: 0 } }),
        timeout: options.publishTimeoutMs,
        ...(headers ? { headers } : {}),
      });
      return undefined;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) {
        // Published before, outside the dedupe window (a crash between PubAck and marking it).
        log.debug({ action_id: row.action_id, subject: row.subject }, 'event was already published');
        return undefined;
      }
      return err;
    }
  };

  /** One batch: claim, publish (pipelined), mark. Returns how many were claimed, and the failures. */
  const relayOnce = () =>
    withTransaction(options.pool, async (client) => {
      // Marking rows published is bookkeeping the stream already guards: if this commit is lost
      // in a crash, the rows are published again and the stream refuses the copies (same
      // Nats-Msg-Id within the dedupe window, "no message on this subject yet" after it). So the
      // relay does not wait for its commit to reach the disk: one fsync less per batch, and the
      // next batch starts sooner. (One round trip for both settings.)
      await client.query('set local synchronous_commit = off; set local enable_bitmapscan = off');
      const claimed = await client.query<OutboxRecord>({
        // Named: prepared once per connection instead of planned on every claim.
        name: 'approval-outbox-claim',
        // Ordered by the column o.id (a bare "id" names the text output column: '1000' sorted
        // before '999'), and read with an index scan: rows marked published leave dead entries in
        // the unpublished index until a vacuum, and a bitmap scan revisited every one of them on
        // every claim (more with each row published), where an index scan stops at the limit
        // and marks them, so the next claim skips them.
        text: `select o.id::text as id, o.action_id, o.kind, o.event_id, o.subject, o.payload::text as payload,
                o.created_at, o.trace_context
           from approval.outbox o where o.published_at is null
          order by o.id limit $1 for update skip locked`,
        values: [options.batchSize],
      });
      const rows = claimed.rows;
      const failures: unknown[] = [];
      if (rows.length === 0) return { claimed: 0, failures };
      // A decided event never overtakes its approval's pending event from the same batch: it
      // goes in a second wave, and only if that pending event went out.
      const pendingIds = new Set(rows.filter((r) => r.kind === 'pending').map((r) => r.action_id));
      const waitsForPending = (r: OutboxRecord) => r.kind === 'decided' && pendingIds.has(r.action_id);
      const published: string[] = [];
      const publishedPending = new Set<string>();
      for (const wave of [rows.filter((r) => !waitsForPending(r)), rows.filter(waitsForPending)]) {
        const ready = wave.filter((r) => !waitsForPending(r) || publishedPending.has(r.action_id));
        const results = await Promise.all(ready.map(publishOne));
        for (const [i, row] of ready.entries()) {
          if (results[i] !== undefined) {
            failures.push(results[i]);
            continue;
          }
          published.push(row.id);
          if (row.kind === 'pending') publishedPending.add(row.action_id);
        }
        failures.push(...wave.filter((r) => !ready.includes(r)).map(() => 'its pending event failed'));
      }
      if (published.length > 0) {
        await client.query('update approval.outbox set published_at = now() where id = any($1::bigint[])', [
          published,
        ]);
      }
      return { claimed: rows.length, failures };
    });

  const run = async () => {
    let failures = 0;
    while (!stopping) {
      try {
        const batch = await relayOnce();
        if (batch.failures.length > 0) {
          // One line per batch, not per event: while NATS is down every event fails alike.
          throw new Error(`${batch.failures.length} of ${batch.claimed} events could not be published`, {
            cause: batch.failures[0],
          });
        }
        failures = 0;
        if (batch.claimed < options.batchSize) await wakeable.sleep(options.pollMs);
      } catch (err) {
        failures++;
        const delay = backoffDelay(failures, 100, 5_000);
        log.warn({ err, retry_in_ms: delay }, 'outbox relay failed; backing off');
        // Not wakeable: a flood of NOTIFYs must not defeat the backoff while NATS is down.
        await pause.sleep(delay);
      }
    }
  };

  const listen = async () => {
    let failures = 0;
    while (!stopping) {
      // Named, so operators (and tests) can find it in pg_stat_activity.
      const client = new pg.Client({ ...options.pool.options, application_name: LISTENER_NAME });
      listener = client;
      try {
        const ended = new Promise<unknown>((resolve) => {
          client.on('error', resolve);
          client.on('end', () => resolve(new Error('connection ended')));
        });
        client.on('notification', () => wakeable.wake());
        await client.connect();
        await client.query(`listen ${CHANNEL}`);
        failures = 0;
        // Catch up with whatever was written while nobody listened.
        wakeable.wake();
        const reason = await ended;
        if (!stopping) log.warn({ err: reason }, 'outbox listener lost its connection');
      } catch (err) {
        if (!stopping) log.warn({ err }, 'outbox listener could not connect');
      } finally {
        listener = undefined;
        await client.end().catch(() => {});
      }
      if (!stopping) await pause.sleep(backoffDelay(++failures, 200, 5_000));
    }
  };

  const running = Promise.all([run(), listen()]);
  return {
    wake: () => wakeable.wake(),
    stop: async () => {
      stopping = true;
      wakeable.wake();
      pause.wake();
      await listener?.end().catch(() => {});
      await running;
    },
  };
}
