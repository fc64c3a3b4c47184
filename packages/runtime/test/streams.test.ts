import { Streams } from '@countersign/contracts';
import { useTestNats } from '@countersign/test-fixtures';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { ensureStreams, streamConfigs } from '../src/streams.js';

const nats = await useTestNats();

describe('ensureStreams', () => {
  it('creates both streams, and is idempotent when replicas race', async () => {
    const nc = await nats.connect();
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
        'approval.reminder.>',
        'approval.escalated.>',
        'approval.invalid',
      ]);
      expect(events.config.max_age).toBe(3600 * 1e9);
    } finally {
      await nc.close();
    }
  });

  it('widens an intake stream created before identity-scoped subjects, keeping what it holds', async () => {
    const own = await useTestNats({ own: true });
    const nc = await own.connect();
    try {
      const jsm = await jetstreamManager(nc);
      const [requests] = streamConfigs();
      await jsm.streams.add({ ...requests, name: Streams.requests, subjects: ['approval.requested'] });
      await jetstream(nc).publish('approval.requested', '{}', { msgID: 'before-the-update' });
      await ensureStreams(jsm);
      const info = await jsm.streams.info(Streams.requests);
      expect(info.config.subjects).toEqual(['approval.requested', 'approval.requested.>']);
      expect(info.state.messages).toBe(1);
      const ack = await jetstream(nc).publish('approval.requested.dave', '{}', { msgID: 'after' });
      expect(ack.stream).toBe(Streams.requests);
    } finally {
      await nc.close();
    }
  });
});
