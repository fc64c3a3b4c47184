import { Streams } from '@countersign/contracts';
import { useTestNats } from '@countersign/test-fixtures';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { ensureStreams } from '../src/streams.js';

const nats = await useTestNats();

describe('ensureStreams', () => {
  it('creates both streams, and is idempotent when replicas race', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await Promise.all([ensureStreams(jsm), ensureStreams(jsm), ensureStreams(jsm)]);
      await ensureStreams(jsm, { eventsMaxAgeSeconds: 3600 });
      const requests = await jsm.streams.info(Streams.requests);
      const events = await jsm.streams.info(Streams.events);
      expect(requests.config.subjects).toEqual(['approval.requested', 'approval.requested.>']);
      expect(requests.config.retention).toBe('workqueue');
      expect(events.config.subjects).toEqual([
        'approval.pending.>',
        'approval.decided.>',
        'approval.invalid',
      ]);
      expect(events.config.max_age).toBe(3600 * 1e9);
    } finally {
      await nc.close();
    }
  });
});
