/**
 * Prometheus metrics of the notifier, on its own small HTTP server (METRICS_PORT; the notifier
 * serves nothing else): deliveries waiting, in flight and dead-lettered, and the age of the
 * oldest due delivery. They are read from the `notifier` schema (so every replica reports the
 * same totals) through the partial indexes on those statuses, never a scan of delivered rows,
 * and cached for METRICS_CACHE so frequent scrapes do not each query.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@countersign/runtime';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface NotifierMetrics {
  registry: Registry;
  /** The Prometheus text exposition, with the database gauges read (or reused from the cache). */
  render(): Promise<string>;
}

interface Reading {
  at: number;
  byStatus: Record<'scheduled' | 'in_progress' | 'dead', number>;
  /** When the oldest due scheduled delivery became due (epoch ms), if any. */
  oldestDue: number | null;
}

export function createNotifierMetrics(options: {
  pool: pg.Pool;
  logger: Logger;
  cacheMs: number;
}): NotifierMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const log = options.logger.child({ component: 'metrics' });
  const deliveries = new Gauge({
    name: 'countersign_notifier_deliveries',
    help: 'Deliveries not yet delivered, by status: scheduled (waiting or retrying), in_progress, dead (dead letters).',
    labelNames: ['status'] as const,
    registers,
  });
  const oldestDue = new Gauge({
    name: 'countersign_notifier_oldest_due_age_seconds',
    help: 'How long the oldest due scheduled delivery has been waiting for an attempt (0 when none is due).',
    registers,
  });
  const scrapeErrors = new Counter({
    name: 'countersign_notifier_metrics_scrape_errors_total',
    help: 'Scrapes whose database gauges could not be read (the gauges are then absent).',
    registers,
  });

  const read = async (): Promise<Reading> => {
    // One count per status, each through its partial index (deliveries_due, _leased, _dead).
    const result = await options.pool.query<{
      scheduled: string;
      in_progress: string;
      dead: string;
      oldest_due: number | null;
    }>(
      `select
         (select count(*) from notifier.deliveries where status = 'scheduled') as scheduled,
         (select count(*) from notifier.deliveries where status = 'in_progress') as in_progress,
         (select count(*) from notifier.deliveries where status = 'dead') as dead,
         (select extract(epoch from min(next_attempt_at))::float8 * 1000 from notifier.deliveries
           where status = 'scheduled' and next_attempt_at <= now()) as oldest_due`,
    );
    const row = result.rows[0];
    return {
      at: Date.now(),
      byStatus: {
        scheduled: Number(row?.scheduled ?? 0),
        in_progress: Number(row?.in_progress ?? 0),
        dead: Number(row?.dead ?? 0),
      },
      oldestDue: row?.oldest_due ?? null,
    };
  };
  let cached: Reading | undefined;
  let reading: Promise<Reading> | undefined;
  const current = (): Promise<Reading> => {
    if (cached && Date.now() - cached.at < options.cacheMs) return Promise.resolve(cached);
    reading ??= read()
      .then((r) => {
        cached = r;
        return r;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  return {
    registry,
    render: async () => {
      deliveries.reset();
      oldestDue.reset();
      try {
        const r = await current();
        for (const [status, n] of Object.entries(r.byStatus)) deliveries.set({ status }, n);
        oldestDue.set(r.oldestDue === null ? 0 : Math.max(0, (Date.now() - r.oldestDue) / 1000));
      } catch (err) {
        scrapeErrors.inc();
        deliveries.reset();
        oldestDue.reset();
        log.warn({ err }, 'could not read the database gauges');
      }
      return registry.metrics();
    },
  };
}

export interface MetricsServer {
  url: string;
  stop(): Promise<void>;
}

/** Serves `/metrics` (and `/healthz`) on `host:port`; anything else is 404. No token: no approval content. */
export async function startMetricsServer(options: {
  metrics: NotifierMetrics;
  host: string;
  port: number;
  logger: Logger;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      options.metrics.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const url = `http://${host}:${port}`;
  options.logger.info({ url: `${url}/metrics` }, 'metrics server listening');
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
