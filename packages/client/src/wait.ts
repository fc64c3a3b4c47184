import {
  type Approval,
  type CountersignError,
  decodeApprovalEvent,
  Streams,
  Subjects,
} from '@countersign/contracts';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/nats-core';
import { WaitTimeoutError } from './errors.js';
import { recordWakeUp } from './tracing.js';

export interface WaitOptions {
  /** How long this caller waits, in milliseconds; the approval is unaffected. Default: forever. */
  timeout?: number;
  signal?: AbortSignal;
  /**
   * The hash of the request waited for (`requestHash` of the contract). When given, a decided
   * event whose `request_hash` differs is ignored and logged: it answers someone else's request
   * under the same id, or was forged. requestAndWait and requireApproval always set it.
   */
  requestHash?: string;
}

/** Where a waiter reports the events it ignored (a pino logger fits). */
export interface WaitLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** How a wait is bound to its request: what it logs, and whom it asks when an event does not match. */
export interface WaitBinding {
  logger: WaitLogger;
  /**
   * Asked after an event that does not match the request: an error ends the wait (the id is held
   * by another request), undefined keeps waiting (the event was forged or stale).
   */
  onMismatch?: (approval: Approval) => Promise<Error | undefined>;
}

/**
 * The approval a decided event carries. A message that is not an event is ignored (only the
 * approval service may publish here); an event of a version this client cannot read is an
 * error, or the caller would wait forever for a decision that was made.
 */
function decodeApproval(data: Uint8Array): { approval: Approval } | { error: CountersignError } | undefined {
  const decoded = decodeApprovalEvent(data);
  if (decoded.ok) return { approval: decoded.event.data };
  return decoded.reason === 'unsupported_version' ? { error: decoded.error } : undefined;
}

/**
 * Resolves with the approval once `approval.decided.<id>` exists, by push. It subscribes first
 * and then reads the last message on that subject from the stream, so a decision made before
 * the call is seen at once and one made after arrives on the subscription, with no gap. After a
 * reconnect it reads the stream again, because a core subscription misses what was published
 * while the connection was down. No polling.
 */
export function waitForDecided(
  nc: NatsConnection,
  jsm: JetStreamManager,
  reconnects: ReconnectWatcher,
  actionId: string,
  options: WaitOptions = {},
  binding: WaitBinding = { logger: consoleLogger },
): Promise<Approval> {
  const subject = Subjects.decided(actionId);
  return new Promise<Approval>((resolve, reject) => {
    let settled = false;
    let sub: Subscription | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopWatching = () => {};

    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      stopWatching();
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      sub?.unsubscribe();
      fn();
    };
    const settle = (decoded: ReturnType<typeof decodeApproval>, headers: MsgHdrs | undefined) => {
      if (decoded === undefined || settled) return;
      if ('error' in decoded) return finish(() => reject(decoded.error));
      const { approval } = decoded;
      const mismatch = mismatchOf(approval, actionId, options.requestHash);
      if (mismatch === undefined) {
        recordWakeUp(headers, actionId);
        return finish(() => resolve(approval));
      }
      // Anyone who may publish on the subject could have sent it, or it answers another request
      // filed under this id: never the decision waited for.
      binding.logger.warn(
        {
          action_id: actionId,
          event_action_id: approval.action_id,
          expected_request_hash: options.requestHash,
          event_request_hash: approval.request_hash,
          mismatch,
        },
        'ignored a decided event that does not match the request waited for',
      );
      void binding
        .onMismatch?.(approval)
        .then((error) => {
          if (error) finish(() => reject(error));
        })
        .catch(() => {});
    };
    const onAbort = () =>
      finish(() => reject(options.signal?.reason ?? new Error(`waiting for ${actionId} was aborted`)));

    const readStored = async () => {
      try {
        const stored = await jsm.streams.getMessage(Streams.events, { last_by_subj: subject });
        if (stored) settle(decodeApproval(stored.data), stored.header);
      } catch {
        // The stream may be briefly unreachable (reconnecting, leader election): the live
        // subscription and the next reconnect read cover it.
      }
    };

    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeout !== undefined) {
      timer = setTimeout(
        () => finish(() => reject(new WaitTimeoutError(actionId, options.timeout as number))),
        options.timeout,
      );
    }

    sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return finish(() => reject(err));
        settle(decodeApproval(msg.data), msg.headers);
      },
    });

    stopWatching = reconnects.onReconnect(readStored);
    // Make sure the server has the subscription before reading the stream (no gap).
    void nc
      .flush()
      .then(readStored)
      .catch(() => {});
  });
}

const consoleLogger: WaitLogger = {
  warn: (fields, message) => console.warn(message, fields),
};

/** Why a decided event is not the one waited for, or undefined when it is. */
function mismatchOf(
  approval: Approval,
  actionId: string,
  expectedHash: string | undefined,
): 'action_id' | 'request_hash' | undefined {
  if (approval.action_id !== actionId) return 'action_id';
  if (expectedHash !== undefined && approval.request_hash !== expectedHash) return 'request_hash';
  return undefined;
}

/** One status loop per connection, however many callers wait: calls listeners on reconnect. */
export class ReconnectWatcher {
  private readonly listeners = new Set<() => unknown>();
  private started = false;

  constructor(private readonly nc: NatsConnection) {}

  /** Registers a listener; returns its removal. */
  onReconnect(listener: () => unknown): () => void {
    this.start();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type !== 'reconnect') continue;
        for (const listener of [...this.listeners]) listener();
      }
    })().catch(() => {});
  }
}
