/**
 * What the notifier prunes: deliveries once finished (with their attempts, by cascade), dead
 * letters after a longer retention (they are what an operator replays), invalid-event records
 * with the dead letters, events once no delivery refers to them and they are older than
 * their own retention, and Slack app messages never updated, with the events. Only tables of the `notifier` schema: the notifier's database role has no
 * rights on the approval service's tables.
 */
import {
  type Logger,
  RETENTION_CUTOFF,
  type RetentionJob,
  type RetentionStep,
  startRetentionJob,
} from '@countersign/runtime';
import type pg from 'pg';

/** Retention of each kind of row, in ms past its timestamp; null keeps it for ever. */
export interface NotifierRetention {
  /** Delivered deliveries, after `finished_at`. */
  deliveriesMs: number | null;
  /** Dead and superseded deliveries (dead letters), and invalid events, after they ended. */
  deadLettersMs: number | null;
  /** Events without deliveries left, after `received_at`. */
  eventsMs: number | null;
}

export function notifierRetentionSteps(retention: NotifierRetention): RetentionStep[] {
  return [
    {
      name: 'deliveries',
      retentionMs: retention.deliveriesMs,
      sql: `delete from notifier.deliveries where id in (
              select id from notifier.deliveries
               where status = 'delivered' and finished_at < ${RETENTION_CUTOFF} order by id limit $1)`,
    },
    {
      name: 'dead_letters',
      retentionMs: retention.deadLettersMs,
      sql: `delete from notifier.deliveries where id in (
              select id from notifier.deliveries
               where status in ('dead', 'superseded', 'discarded') and coalesce(finished_at, updated_at) < ${RETENTION_CUTOFF}
               order by id limit $1)`,
    },
    {
      name: 'invalid_events',
      retentionMs: retention.deadLettersMs,
      sql: `delete from notifier.invalid_events where id in (
              select id from notifier.invalid_events where received_at < ${RETENTION_CUTOFF} order by id limit $1)`,
    },
    {
      name: 'events',
      retentionMs: retention.eventsMs,
      // An event with a delivery left (scheduled, retrying, kept as a dead letter) stays: the
      // delivery sends exactly what the event said.
      sql: `delete from notifier.events where id in (
              select e.id from notifier.events e
               where e.received_at < ${RETENTION_CUTOFF}
                 and not exists (select 1 from notifier.deliveries d where d.event_id = e.id)
               limit $1)`,
    },
    {
      name: 'slack_messages',
      retentionMs: retention.eventsMs,
      // A Slack app message is forgotten once updated with its decision; one whose decision never
      // reached this channel (filtered out, dead-lettered) is forgotten with the events, long
      // after any approval's deadline (at most seven days).
      sql: `delete from notifier.slack_messages where (channel, action_id) in (
              select channel, action_id from notifier.slack_messages
               where posted_at < ${RETENTION_CUTOFF} limit $1)`,
    },
  ];
}

/** The advisory lock the notifier replicas share, so one of them runs each pass. */
export const NOTIFIER_RETENTION_LOCK = 'countersign:retention:notifier';

export function startNotifierRetention(options: {
  pool: pg.Pool;
  logger: Logger;
  retention: NotifierRetention;
  intervalMs: number;
  batchSize: number;
}): RetentionJob {
  return startRetentionJob({
    pool: options.pool,
    logger: options.logger,
    lockName: NOTIFIER_RETENTION_LOCK,
    steps: notifierRetentionSteps(options.retention),
    batchSize: options.batchSize,
    intervalMs: options.intervalMs,
  });
}
