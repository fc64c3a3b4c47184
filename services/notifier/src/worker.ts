import { checkApprovalEvent } from '@countersign/contracts';
import { contextFromCarrier, type Logger, SpanKind, sleeper, withSpan } from '@countersign/runtime';
import type pg from 'pg';
import { nextRetryDelay, type RetryPolicy } from './backoff.js';
import type { Channel } from './channels/types.js';
import type { Outcome } from './outcome.js';
import type { Scrubber } from './secret.js';
import {
  type AttemptRecord,
  type ClaimedDelivery,
  claimDue,
  deadLetterDisabledChannels,
  type ExpiredClaim,
  finishAttempt,
  recoverExpiredClaims,
} from './store.js';

export interface WorkerOptions {
  pool: pg.Pool;
  channels: ReadonlyMap<string, Channel>;
  logger: Logger;
  retry: RetryPolicy;
  leaseMs: number;
  /** Guard for a send that never settles (a bug): its outcome is taken as unknown. */
  attemptDeadlineMs: number;
  concurrency: number;
  channelConcurrency: number;
  pollIntervalMs: number;
  scrub: Scrubber;
}

export interface DeliveryWorker {
  /** New deliveries are due: look now instead of at the next poll. */
  kick(): void;
  /** Stops claiming and waits for the attempts in flight. */
  stop(): Promise<void>;
}

/**
 * Runs delivery attempts: claims due deliveries (first attempts and retries alike) under a
 * lease, sends them with bounded concurrency overall and per channel, and records each outcome
 * with the next step: delivered, retry at a backoff, or dead letter. Also recovers the claims
 * of attempts whose process died.
 */
export function startDeliveryWorker(options: WorkerOptions): DeliveryWorker {
  const { pool, channels, logger, retry, scrub } = options;
  const inFlight = new Map<number, { channel: string; done: Promise<void> }>();
  let stopping = false;
  // Cut short by kick() (new deliveries are due) and by stop().
  const pause = sleeper();
  let lastMaintenance = 0;

  const kick = () => pause.wake();

  const room = (): Map<string, number> => {
    const busy = new Map<string, number>();
    for (const { channel } of inFlight.values()) busy.set(channel, (busy.get(channel) ?? 0) + 1);
    return new Map(
      [...channels.keys()].map((name) => [name, options.channelConcurrency - (busy.get(name) ?? 0)]),
    );
  };

  const retryOrDie = (
    delivery: { attempts: number; replayBase: number },
    error: string,
    retryAfterMs?: number,
  ) => {
    const delayMs = nextRetryDelay(retry, delivery.attempts - delivery.replayBase, retryAfterMs);
    return delayMs === undefined
      ? { next: { status: 'dead' as const }, error: `gave up after ${delivery.attempts} attempts: ${error}` }
      : { next: { status: 'scheduled' as const, delayMs }, error };
  };

  /** What an attempt's outcome means for the delivery. */
  const decide = (
    delivery: ClaimedDelivery,
    channel: Channel | undefined,
    outcome: Outcome,
  ): AttemptRecord => {
    const statusCode = 'status' in outcome ? outcome.status : undefined;
    switch (outcome.result) {
      case 'delivered':
        return { outcome: 'delivered', statusCode, error: undefined, next: { status: 'delivered' } };
      case 'retry':
        return {
          outcome: 'retry',
          statusCode,
          ...retryOrDie(delivery, scrub(outcome.error), outcome.retryAfterMs),
        };
      case 'unknown':
        if (channel?.resendsUnknown) {
          return { outcome: 'unknown', statusCode, ...retryOrDie(delivery, scrub(outcome.error)) };
        }
        return {
          outcome: 'unknown',
          statusCode,
          error: `outcome unknown, not resent to avoid a duplicate (replay to resend): ${scrub(outcome.error)}`,
          next: { status: 'dead' },
        };
      case 'gone':
        return {
          outcome: 'gone',
          statusCode,
          error: scrub(outcome.error),
          next: { status: 'dead' },
          disableChannel: `receiver answered ${outcome.status} Gone`,
        };
      case 'failed':
        return { outcome: 'failed', statusCode, error: scrub(outcome.error), next: { status: 'dead' } };
    }
  };

  const send = async (
    delivery: ClaimedDelivery,
    channel: Channel | undefined,
    log: Logger,
  ): Promise<Outcome> => {
    if (!channel) return { result: 'failed', error: `channel ${delivery.channel} is no longer configured` };
    // Stored as the consumer decoded it; rows from before the version field read as version 1.
    const stored = checkApprovalEvent(delivery.event);
    if (!stored.ok)
      return { result: 'failed', error: `stored event does not match the contract: ${stored.error.message}` };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<Outcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ result: 'unknown', error: 'attempt did not finish before its deadline' }),
        options.attemptDeadlineMs,
      );
    });
    try {
      return await Promise.race([
        channel.send({
          event: stored.event,
          target: { key: delivery.target, detail: delivery.detail },
          attempt: delivery.attempts,
          logger: log,
        }),
        deadline,
      ]);
    } catch (err) {
      // Channels classify their failures; a throw is a bug, and where it happened is unknown.
      log.error({ err: scrub(String(err)) }, 'channel threw');
      return { result: 'unknown', error: 'internal error in the channel' };
    } finally {
      clearTimeout(timer);
    }
  };

  const record = async (delivery: ClaimedDelivery, result: AttemptRecord, log: Logger) => {
    // The send happened; losing its record would turn into an unknown outcome at lease expiry,
    // so try a few times before leaving it to the lease.
    for (let tries = 1; ; tries++) {
      try {
        const kept = await finishAttempt(pool, delivery, result);
        if (!kept) log.warn('attempt finished after its claim was taken over; result not recorded');
        return;
      } catch (err) {
        if (tries >= 5 || stopping) {
          log.error({ err }, 'could not record the attempt; the lease will expire and recover it');
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** tries));
      }
    }
  };

  const attempt = async (delivery: ClaimedDelivery) => {
    const channel = channels.get(delivery.channel);
    const event = delivery.event as { type?: string; data?: { action_id?: string } };
    const log = logger.child({
      delivery_id: delivery.id,
      event_id: delivery.eventId,
      event_type: event.type,
      action_id: event.data?.action_id,
      channel: delivery.channel,
      kind: delivery.kind,
      target: delivery.target,
      attempt: delivery.attempts,
    });
    const parent = contextFromCarrier(delivery.trace);
    // In the approval's trace when its event carried one: the channel sends that context on
    // (a webhook's `traceparent`), so the receiver's work joins the trace too.
    const outcome =
      parent === undefined
        ? await send(delivery, channel, log)
        : await withSpan(
            `notifier deliver ${delivery.kind}`,
            {
              kind: SpanKind.CLIENT,
              parent,
              attributes: {
                'countersign.channel': delivery.channel,
                'countersign.event_type': event.type ?? '',
                'countersign.action_id': event.data?.action_id ?? '',
                'countersign.attempt': delivery.attempts,
              },
            },
            async (span) => {
              const sent = await send(delivery, channel, log);
              span?.setAttribute('countersign.outcome', sent.result);
              if ('status' in sent && sent.status !== undefined)
                span?.setAttribute('http.response.status_code', sent.status);
              return sent;
            },
          );
    const result = decide(delivery, channel, outcome);
    await record(delivery, result, log);
    const fields = { outcome: outcome.result, status_code: result.statusCode, error: result.error };
    if (result.next.status === 'delivered') log.info({ status_code: result.statusCode }, 'delivered');
    else if (result.next.status === 'scheduled') {
      log.warn({ ...fields, retry_in_ms: result.next.delayMs }, 'delivery attempt failed; retry scheduled');
    } else log.error(fields, 'delivery dead-lettered');
  };

  const recoverDecision = (claim: ExpiredClaim): AttemptRecord => {
    const channel = channels.get(claim.channel);
    const error = 'attempt interrupted (the process died or lost its database mid-send)';
    if (channel?.resendsUnknown)
      return { outcome: 'interrupted', statusCode: undefined, ...retryOrDie(claim, error) };
    return {
      outcome: 'interrupted',
      statusCode: undefined,
      error: `${error}; outcome unknown, not resent to avoid a duplicate (replay to resend)`,
      next: { status: 'dead' },
    };
  };

  const maintain = async () => {
    const now = Date.now();
    if (now - lastMaintenance < options.pollIntervalMs) return;
    lastMaintenance = now;
    const recovered = await recoverExpiredClaims(pool, recoverDecision);
    for (const claim of recovered) {
      logger.warn(
        { delivery_id: claim.id, channel: claim.channel },
        'recovered an interrupted delivery attempt',
      );
    }
    const disabled = await deadLetterDisabledChannels(pool);
    if (disabled > 0) logger.warn({ count: disabled }, 'dead-lettered deliveries of disabled channels');
  };

  const loop = async () => {
    while (!stopping) {
      try {
        await maintain();
        const claimed = await claimDue(pool, {
          limit: options.concurrency - inFlight.size,
          room: room(),
          leaseMs: options.leaseMs,
        });
        for (const delivery of claimed) {
          const done = attempt(delivery)
            .catch((err) =>
              logger.error({ err, delivery_id: delivery.id }, 'delivery attempt failed unexpectedly'),
            )
            .finally(() => {
              inFlight.delete(delivery.id);
              kick();
            });
          inFlight.set(delivery.id, { channel: delivery.channel, done });
        }
      } catch (err) {
        logger.error({ err }, 'delivery worker cycle failed');
      }
      await pause.sleep(options.pollIntervalMs);
    }
  };

  const running = loop();
  return {
    kick,
    async stop() {
      stopping = true;
      pause.wake();
      await running;
      await Promise.all([...inFlight.values()].map((f) => f.done));
    },
  };
}
