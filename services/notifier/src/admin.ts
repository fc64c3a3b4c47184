/**
 * The notifier on the NATS services framework (`nats micro ls` lists it with its version):
 * dead letters listed, retried and discarded, an approval's deliveries, channel health. The
 * same store functions as the `dlq` CLI. Every one of these subjects is published only by the
 * ops user (packages/devinfra/src/nats-auth.ts): deliveries name recipients and errors, and a
 * retry sends mail again, so no directory principal may ask.
 */
import type { DeliveryView as DeliveryRecord } from '@countersign/contracts';
import { ServiceNames } from '@countersign/contracts';
import { type EndpointHandlers, type Logger, startService } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Service } from '@nats-io/services';
import type pg from 'pg';
import pkg from '../package.json' with { type: 'json' };
import type { Channel } from './channels/types.js';
import {
  channelCounts,
  type DeliveryView,
  discardDelivery,
  listDeliveries,
  listDisabledChannels,
  replayDelivery,
} from './store.js';

export type NotifierEndpoint =
  | 'deadLetters'
  | 'retryDeliveries'
  | 'discardDeliveries'
  | 'deliveries'
  | 'channelHealth';

function record(view: DeliveryView): DeliveryRecord {
  return {
    ...view,
    created_at: view.created_at.toISOString(),
    finished_at: view.finished_at ? view.finished_at.toISOString() : null,
  };
}

async function eachId(ids: readonly number[], act: (id: number) => Promise<boolean>) {
  const done: number[] = [];
  const refused: number[] = [];
  for (const id of new Set(ids)) ((await act(id)) ? done : refused).push(id);
  return { done, refused };
}

export function notifierHandlers(
  pool: pg.Pool,
  channels: readonly Channel[],
  onRetried: () => void,
): EndpointHandlers<NotifierEndpoint> {
  return {
    deadLetters: async (request) => ({
      items: (
        await listDeliveries(pool, {
          status: request.status,
          limit: request.limit,
          ...(request.channel ? { channel: request.channel } : {}),
        })
      ).map(record),
    }),
    retryDeliveries: async (request) => {
      const result = await eachId(request.ids, (id) => replayDelivery(pool, id));
      if (result.done.length > 0) onRetried();
      return result;
    },
    discardDeliveries: async (request) => eachId(request.ids, (id) => discardDelivery(pool, id)),
    deliveries: async (request) => ({
      items: (await listDeliveries(pool, { actionId: request.action_id, limit: 500 })).map(record),
    }),
    channelHealth: async () => {
      const [counts, disabled] = await Promise.all([channelCounts(pool), listDisabledChannels(pool)]);
      const off = new Map(disabled.map((d) => [d.channel, d.reason]));
      return {
        channels: channels.map((c) => {
          const n = counts.get(c.name);
          return {
            channel: c.name,
            kind: c.kind,
            disabled: off.has(c.name),
            disabled_reason: off.get(c.name) ?? null,
            scheduled: n?.scheduled ?? 0,
            dead: n?.dead ?? 0,
            last_delivered_at: n?.last_delivered_at ? n.last_delivered_at.toISOString() : null,
          };
        }),
      };
    },
  };
}

/** Starts the `notifier` service; replicas share its queue group. */
export function startNotifierService(options: {
  nc: NatsConnection;
  pool: pg.Pool;
  channels: readonly Channel[];
  logger: Logger;
  onRetried: () => void;
}): Promise<Service> {
  return startService(
    options.nc,
    {
      name: ServiceNames.notifier,
      version: pkg.version,
      description: 'Countersign notifier: dead letters (list, retry, discard), deliveries, channel health',
    },
    notifierHandlers(options.pool, options.channels, options.onRetried),
    options.logger,
  );
}
