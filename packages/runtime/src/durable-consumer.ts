import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { Logger } from './logger.js';

/** A durable pull consumer shared by every replica of a service (each message to one of them). */
export interface DurableConsumer {
  /** Durable name. */
  name: string;
  description?: string;
  /** Subjects of the stream this consumer takes; default all of them. */
  filterSubjects?: string[];
  /** Redelivery delay of a message nobody acked (its replica crashed or stalled). */
  ackWaitMs: number;
  /** Unacked messages the server hands out to all replicas together. */
  maxAckPending: number;
}

export interface EnsureConsumerOptions {
  /**
   * Wait (logging now and then) while the stream does not exist yet, rather than fail: for a
   * consumer of a stream that another service creates. Default false.
   */
  waitForStream?: { logger: Logger; intervalMs?: number };
}

const NANOS_PER_MS = 1_000_000;

/** The settings a start applies to an existing consumer: those that a deployment may change. */
function wantedConfig(consumer: DurableConsumer) {
  return {
    ...(consumer.description === undefined ? {} : { description: consumer.description }),
    ...(consumer.filterSubjects === undefined ? {} : { filter_subjects: consumer.filterSubjects }),
    ack_wait: consumer.ackWaitMs * NANOS_PER_MS,
    // Unlimited: a message is retried (with the consumer's own nak backoff) until it is handled
    // or dead-lettered, never dropped because a dependency stayed down for long.
    max_deliver: -1,
    max_ack_pending: consumer.maxAckPending,
  } satisfies Partial<ConsumerConfig>;
}

/** Creates the durable consumer, or brings an existing one to this configuration. */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  consumer: DurableConsumer,
  options: EnsureConsumerOptions = {},
): Promise<void> {
  const wanted = wantedConfig(consumer);
  for (let waited = 0; ; waited++) {
    try {
      const { config } = await jsm.consumers.info(stream, consumer.name);
      const current = config as unknown as Record<string, unknown>;
      const differs = Object.entries(wanted).some(
        ([key, value]) => JSON.stringify(current[key]) !== JSON.stringify(value),
      );
      if (differs) await jsm.consumers.update(stream, consumer.name, wanted);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      if (err.code === JetStreamApiCodes.ConsumerNotFound) {
        // Another replica may add it at the same time: adding an identical consumer is idempotent.
        await jsm.consumers.add(stream, {
          ...wanted,
          durable_name: consumer.name,
          ack_policy: AckPolicy.Explicit,
          // Messages kept from before the first start are taken too.
          deliver_policy: DeliverPolicy.All,
        });
        return;
      }
      const wait = options.waitForStream;
      if (err.code !== JetStreamApiCodes.StreamNotFound || !wait) throw err;
      if (waited % 10 === 0) wait.logger.warn({ stream }, 'waiting for the stream to exist');
      await new Promise((resolve) => setTimeout(resolve, wait.intervalMs ?? 1000));
    }
  }
}
