/**
 * The notifier's /metrics (METRICS_PORT): deliveries waiting, in flight and dead-lettered, and
 * the oldest due one, read from the database and reused for METRICS_CACHE between scrapes.
 */
import { createLogger, migrate } from '@countersign/runtime';
import { useTestDatabase } from '@countersign/test-fixtures';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createNotifierMetrics, startMetricsServer } from '../src/metrics.js';
import { notifierMigrations } from '../src/migrations.js';

const logger = createLogger({ service: 'notifier-metrics-test', level: 'silent' });
const db = await useTestDatabase('notifier_metrics');
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
pool.on('error', () => {});
await migrate(pool, { ...notifierMigrations, logger });
afterAll(() => pool.end());

/** The value of one series in Prometheus text, or undefined. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

async function delivery(target: string, status: string, dueMinutesAgo: number | null) {
  await pool.query(
    `insert into notifier.events (id, type, action_id, body) values ($1, 'approval.pending', 'a', '{}')
     on conflict do nothing`,
    ['evt-1'],
  );
  await pool.query(
    `insert into notifier.deliveries (event_id, channel, kind, target, status, next_attempt_at, finished_at)
     values ('evt-1', 'email', 'email', $1, $2,
             case when $3::int is null then null else now() - make_interval(mins => $3::int) end,
             case when $2 in ('dead', 'delivered') then now() else null end)`,
    [target, status, dueMinutesAgo],
  );
}

describe('the notifier metrics server', () => {
  it('serves deliveries by status and the oldest due age, cached between scrapes', async () => {
    await delivery('a@example.com', 'scheduled', 10);
    await delivery('b@example.com', 'scheduled', -5); // due in 5 minutes: waiting, not late
    await delivery('c@example.com', 'dead', null);
    await delivery('d@example.com', 'delivered', null);
    const server = await startMetricsServer({
      metrics: createNotifierMetrics({ pool, logger, cacheMs: 60_000 }),
      host: '127.0.0.1',
      port: 0,
      logger,
    });
    try {
      const scrape = async () => {
        const res = await fetch(`${server.url}/metrics`);
        expect(res.status).toBe(200);
        return res.text();
      };
      const first = await scrape();
      expect(sample(first, 'countersign_notifier_deliveries{status="scheduled"}')).toBe(2);
      expect(sample(first, 'countersign_notifier_deliveries{status="in_progress"}')).toBe(0);
      expect(sample(first, 'countersign_notifier_deliveries{status="dead"}')).toBe(1);
      const age = sample(first, 'countersign_notifier_oldest_due_age_seconds') ?? 0;
      expect(age).toBeGreaterThanOrEqual(600);
      expect(age).toBeLessThan(700);
      expect(first).toContain('process_cpu_seconds_total');

      // A new dead letter: the cached reading does not see it until METRICS_CACHE has passed.
      await delivery('e@example.com', 'dead', null);
      expect(sample(await scrape(), 'countersign_notifier_deliveries{status="dead"}')).toBe(1);
      const fresh = await createNotifierMetrics({ pool, logger, cacheMs: 0 }).render();
      expect(sample(fresh, 'countersign_notifier_deliveries{status="dead"}')).toBe(2);

      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/other`)).status).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
