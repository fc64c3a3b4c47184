/**
 * The notifier on the NATS services framework, against the real notifier, nats-server (with the
 * generated permissions), database and an HTTP receiver: `nats micro` finds it with its version;
 * ops lists, retries and discards dead letters, reads an approval's deliveries and the channels'
 * health; a directory person cannot send any of these commands.
 */
import { callEndpoint } from '@countersign/client';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { makeApproval, pendingEvent } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import { startTestNotifier, testEnv } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';
import { startReceiver } from './helpers/receiver.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_admin');

let nc: NatsConnection;
let events: EventPublisher;
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
});
afterAll(async () => {
  await nc.close();
});

describe('the notifier on the NATS CLI', () => {
  it('reports its version, and lets ops list, retry and discard dead letters', async () => {
    let healthy = false;
    const receiver = await startReceiver(() => (healthy ? { status: 200 } : { status: 503 }));
    const run = await startTestNotifier(testEnv(db, nats.url), {
      channels: [{ name: 'hook', type: 'webhook', url: receiver.url, secret_env: 'WEBHOOK_SECRET' }],
    });
    try {
      const info = (await nc.request('$SRV.INFO.notifier', '', { timeout: 5000 })).json<{
        name: string;
        version: string;
        endpoints: { subject: string }[];
      }>();
      expect(info).toMatchObject({ name: 'notifier', version: pkg.version });
      expect(info.endpoints.map((e) => e.subject).sort()).toEqual([
        'notifier.deadletters.discard',
        'notifier.deadletters.list',
        'notifier.deadletters.retry',
        'notifier.deliveries',
        'notifier.health',
      ]);

      const first = makeApproval();
      const second = makeApproval();
      await events.publish(pendingEvent(first));
      await events.publish(pendingEvent(second));
      await waitUntil(async () => {
        const rows = [
          ...(await deliveriesOf(run.pool, first.action_id)),
          ...(await deliveriesOf(run.pool, second.action_id)),
        ];
        return rows.length === 2 && rows.every((r) => r.status === 'dead');
      });

      const dead = await callEndpoint(nc, 'deadLetters', { channel: 'hook' }, { timeout: 5000 });
      const idOf = (actionId: string) => dead.items.find((d) => d.action_id === actionId)?.id as number;
      expect(dead.items.map((d) => d.status)).toEqual(['dead', 'dead']);

      const health = await callEndpoint(nc, 'channelHealth', {}, { timeout: 5000 });
      expect(health.channels).toEqual([
        expect.objectContaining({ channel: 'hook', kind: 'webhook', disabled: false, dead: 2 }),
      ]);

      healthy = true;
      const retried = await callEndpoint(
        nc,
        'retryDeliveries',
        { ids: [idOf(first.action_id), 999_999] },
        { timeout: 5000 },
      );
      expect(retried).toEqual({ done: [idOf(first.action_id)], refused: [999_999] });
      await waitUntil(async () => (await deliveriesOf(run.pool, first.action_id))[0]?.status === 'delivered');
      const shown = await callEndpoint(nc, 'deliveries', { action_id: first.action_id }, { timeout: 5000 });
      expect(shown.items).toEqual([
        expect.objectContaining({ status: 'delivered', attempts: 4, channel: 'hook' }),
      ]);

      const discarded = await callEndpoint(
        nc,
        'discardDeliveries',
        { ids: [idOf(second.action_id)] },
        { timeout: 5000 },
      );
      expect(discarded.done).toEqual([idOf(second.action_id)]);
      expect((await callEndpoint(nc, 'deadLetters', { channel: 'hook' }, { timeout: 5000 })).items).toEqual(
        [],
      );
      // Discarded is final: it is neither retried nor discarded again.
      expect(
        await callEndpoint(nc, 'retryDeliveries', { ids: [idOf(second.action_id)] }, { timeout: 5000 }),
      ).toEqual({
        done: [],
        refused: [idOf(second.action_id)],
      });
    } finally {
      await run.stop();
      await receiver.close();
    }
  });

  it('refuses the commands to a directory person: only ops administers the notifier', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    const run = await startTestNotifier(testEnv(db, nats.url), {
      channels: [{ name: 'hook', type: 'webhook', url: receiver.url, secret_env: 'WEBHOOK_SECRET' }],
    });
    const frank = await nats.connect('frank');
    try {
      await expect(
        frank.request('notifier.deadletters.retry', JSON.stringify({ ids: [1] }), { timeout: 2000 }),
      ).rejects.toThrow();
      await expect(frank.request('notifier.deadletters.list', '{}', { timeout: 2000 })).rejects.toThrow();
    } finally {
      await frank.close();
      await run.stop();
      await receiver.close();
    }
  });
});
