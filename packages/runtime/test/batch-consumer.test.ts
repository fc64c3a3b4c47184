import { Writable } from 'node:stream';
import { useTestNats, waitUntil } from '@countersign/test-fixtures';
import {
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchConsumerOptions, type MessageOutcome, startBatchConsumer } from '../src/batch-consumer.js';
import { ensureDurableConsumer } from '../src/durable-consumer.js';
import { createLogger } from '../src/logger.js';

const nats = await useTestNats();
const logger = createLogger({ service: 'batch-consumer-test', level: 'silent' });

let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let streams = 0;

beforeAll(async () => {
  nc = await nats.connect();
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc.close();
});

/** A work-queue stream of its own per test (files may share one server). */
async function freshStream(): Promise<{ stream: string; subject: string }> {
  const n = ++streams;
  const stream = `BATCH_CONSUMER_TEST_${process.pid}_${n}`;
  const subject = `batch-consumer-test.${process.pid}.${n}`;
  await jsm.streams.add({ name: stream, subjects: [subject], retention: 'workqueue' as never });
  return { stream, subject };
}

async function publish(subject: string, count: number, from = 0): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => js.publish(subject, String(from + i))));
}

type Options = BatchConsumerOptions<string>;

function options(stream: string, overrides: Partial<Options> & Pick<Options, 'handle'>): Options {
  return {
    js,
    jsm,
    stream,
    consumer: { name: 'worker', ackWaitMs: 30_000, maxAckPending: 1000 },
    logger,
    batchSize: 10,
    concurrency: 2,
    pullExpiresMs: 1000,
    retry: { baseMs: 50, maxMs: 200 },
    deadLetter: async () => {},
    ...overrides,
  };
}

const acks = (batch: readonly JsMsg[]): MessageOutcome<string>[] => batch.map(() => ({ kind: 'ack' }));
const text = (msg: JsMsg) => new TextDecoder().decode(msg.data);

async function unprocessed(stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

describe('startBatchConsumer', () => {
  it('handles a burst in batches of at most batchSize, and acks each message after its batch', async () => {
    const { stream, subject } = await freshStream();
    const seen: string[] = [];
    const sizes: number[] = [];
    await publish(subject, 45);
    const consumer = await startBatchConsumer(
      options(stream, {
        handle: async (batch) => {
          sizes.push(batch.length);
          seen.push(...batch.map(text));
          return acks(batch);
        },
      }),
    );
    try {
      await waitUntil(() => seen.length === 45, { message: 'all 45 messages handled' });
      expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
      // Buffered together, so batched: far fewer batches than messages.
      expect(sizes.length).toBeLessThan(45);
      expect(new Set(seen).size).toBe(45);
      // Work queue: an acked message leaves the stream.
      await waitUntil(async () => (await unprocessed(stream)) === 0, { message: 'stream emptied by acks' });
      // A lone message later goes alone, without waiting for company or for the pull to end.
      const started = performance.now();
      await publish(subject, 1, 100);
      await waitUntil(() => seen.includes('100'), { message: 'lone message handled' });
      expect(performance.now() - started).toBeLessThan(900);
    } finally {
      await consumer.stop();
    }
  });

  it('redelivers a nak after its delay, or after the backoff when it names none', async () => {
    const { stream, subject } = await freshStream();
    const deliveries = new Map<string, number[]>();
    await publish(subject, 2);
    const consumer = await startBatchConsumer(
      options(stream, {
        handle: async (batch) =>
          batch.map((msg): MessageOutcome<string> => {
            deliveries.set(text(msg), [...(deliveries.get(text(msg)) ?? []), msg.info.deliveryCount]);
            if (msg.info.deliveryCount >= 3) return { kind: 'ack' };
            return text(msg) === '0' ? { kind: 'nak', delayMs: 100 } : { kind: 'nak' };
          }),
      }),
    );
    try {
      await waitUntil(() => deliveries.get('0')?.length === 3 && deliveries.get('1')?.length === 3, {
        message: 'both messages delivered three times',
      });
      expect(deliveries.get('0')).toEqual([1, 2, 3]);
      expect(deliveries.get('1')).toEqual([1, 2, 3]);
      await waitUntil(async () => (await unprocessed(stream)) === 0, { message: 'acked in the end' });
    } finally {
      await consumer.stop();
    }
  });

  it('terminates a message only after deadLetter kept it; a failing deadLetter retries it', async () => {
    const { stream, subject } = await freshStream();
    const kept: { seq: number; reason: string; detail: string }[] = [];
    let deadLetterCalls = 0;
    let handled = 0;
    await publish(subject, 1);
    const consumer = await startBatchConsumer(
      options(stream, {
        handle: async (batch) => {
          handled += batch.length;
          return batch.map(() => ({ kind: 'term', reason: 'bad_input', detail: 'why it is bad' }));
        },
        deadLetter: async (msg, { reason, detail }) => {
          deadLetterCalls++;
          // The first attempt to keep it fails (its store is down): it must come back.
          if (deadLetterCalls === 1) throw new Error('dead-letter store unavailable');
          kept.push({ seq: msg.seq, reason, detail });
        },
      }),
    );
    try {
      await waitUntil(() => kept.length === 1, { message: 'dead letter kept on the second delivery' });
      expect(kept[0]).toMatchObject({ reason: 'bad_input', detail: 'why it is bad' });
      expect(handled).toBe(2);
      // Terminated: gone from the work queue, and never delivered again.
      await waitUntil(async () => (await unprocessed(stream)) === 0, {
        message: 'terminated message removed',
      });
      expect(deadLetterCalls).toBe(2);
    } finally {
      await consumer.stop();
    }
  });

  it('retries every message of a batch whose handler throws, and of one that answers too few outcomes', async () => {
    const { stream, subject } = await freshStream();
    let calls = 0;
    const acked: string[] = [];
    await publish(subject, 3);
    const consumer = await startBatchConsumer(
      options(stream, {
        batchSize: 3,
        concurrency: 1,
        handle: async (batch) => {
          calls++;
          if (batch.some((m) => m.info.deliveryCount === 1)) {
            if (calls === 1) throw new Error('a bug');
            return [];
          }
          acked.push(...batch.map(text));
          return acks(batch);
        },
      }),
    );
    try {
      await waitUntil(() => acked.length === 3, { message: 'all three acked after redelivery' });
      expect(acked.sort()).toEqual(['0', '1', '2']);
    } finally {
      await consumer.stop();
    }
  });

  it('stop() waits for batches in flight and hands back what was not started, well before the ack wait', async () => {
    const { stream, subject } = await freshStream();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const firstHandled: string[] = [];
    let inFlight = 0;
    // Batches are what is buffered together, so the batch in flight holds 1 to 5 messages.
    let firstBatchSize = 0;
    await publish(subject, 30);
    const first = await startBatchConsumer(
      options(stream, {
        batchSize: 5,
        concurrency: 1,
        handle: async (batch) => {
          inFlight++;
          firstBatchSize = batch.length;
          await gate;
          firstHandled.push(...batch.map(text));
          return acks(batch);
        },
      }),
    );
    await waitUntil(() => inFlight === 1, { message: 'first batch in flight' });
    const order: string[] = [];
    const stopping = first.stop().then(() => order.push('stopped'));
    // Idempotent: a second call shares the first run.
    const again = first.stop().then(() => order.push('stopped again'));
    order.push('released');
    release();
    await Promise.all([stopping, again]);
    // stop() resolved only after the batch in flight finished.
    expect(order).toEqual(['released', 'stopped', 'stopped again']);
    expect(firstBatchSize).toBeGreaterThanOrEqual(1);
    expect(firstBatchSize).toBeLessThanOrEqual(5);
    expect(firstHandled).toHaveLength(firstBatchSize);

    // The rest comes back to another consumer on the same durable within about a pull's life,
    // not after the 30 s ack wait.
    const secondHandled: string[] = [];
    const started = performance.now();
    const second = await startBatchConsumer(
      options(stream, {
        handle: async (batch) => {
          secondHandled.push(...batch.map(text));
          return acks(batch);
        },
      }),
    );
    try {
      const rest = 30 - firstBatchSize;
      await waitUntil(() => secondHandled.length === rest, {
        message: `the ${rest} handed-back messages handled`,
      });
      // The behaviour under test: a pull's life (1 s) plus start-up, far from the 30 s ack wait
      // that messages left unsettled would wait out; 10 s leaves a margin of several times.
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(secondHandled).toHaveLength(rest);
      expect(new Set([...firstHandled, ...secondHandled]).size).toBe(30);
    } finally {
      await second.stop();
    }
  });

  it('waits for a stream that does not exist yet when asked to', async () => {
    const n = ++streams;
    const stream = `BATCH_CONSUMER_LATE_${process.pid}_${n}`;
    const subject = `batch-consumer-late.${process.pid}.${n}`;
    const seen: string[] = [];
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const starting = startBatchConsumer(
      options(stream, {
        logger: createLogger({ service: 'batch-consumer-test', destination }),
        waitForStream: true,
        handle: async (batch) => {
          seen.push(...batch.map(text));
          return acks(batch);
        },
      }),
    );
    await waitUntil(() => lines.some((l) => l.includes('waiting for the stream to exist')), {
      message: 'the consumer waiting for its stream',
    });
    await jsm.streams.add({ name: stream, subjects: [subject] });
    const consumer = await starting;
    try {
      await publish(subject, 1);
      await waitUntil(() => seen.length === 1, { message: 'message on the late stream handled' });
    } finally {
      await consumer.stop();
    }
  });
});

describe('ensureDurableConsumer', () => {
  it('creates the consumer, and brings an existing one to new settings', async () => {
    const { stream, subject } = await freshStream();
    const durable = { name: 'settings', filterSubjects: [subject], ackWaitMs: 5_000, maxAckPending: 10 };
    await Promise.all([
      ensureDurableConsumer(jsm, stream, durable),
      ensureDurableConsumer(jsm, stream, durable),
    ]);
    let info = await jsm.consumers.info(stream, 'settings');
    expect(info.config.ack_wait).toBe(5_000 * 1e6);
    expect(info.config.max_ack_pending).toBe(10);
    expect(info.config.max_deliver).toBe(-1);
    await ensureDurableConsumer(jsm, stream, { ...durable, ackWaitMs: 7_000, maxAckPending: 20 });
    info = await jsm.consumers.info(stream, 'settings');
    expect(info.config.ack_wait).toBe(7_000 * 1e6);
    expect(info.config.max_ack_pending).toBe(20);
  });

  it('fails at once on a missing stream unless told to wait', async () => {
    await expect(
      ensureDurableConsumer(jsm, `NO_SUCH_STREAM_${process.pid}`, {
        name: 'x',
        ackWaitMs: 1000,
        maxAckPending: 1,
      }),
    ).rejects.toThrow(/stream not found/i);
  });
});
