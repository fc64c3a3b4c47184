/**
 * Prometheus metrics of one approval service instance. Each instance owns its registry (never
 * prom-client's global default): two services in one process, as in tests, would otherwise
 * collide on metric names. Counters are fed by the transports as commands finish, the latency
 * histogram by the lifecycle as decisions commit; the approval and outbox gauges are read from the database at scrape time, so
 * they are right across replicas and restarts without any bookkeeping. Those reads are cached for
 * `cacheMs` (METRICS_CACHE): several Prometheus servers scraping several replicas every few
 * seconds would otherwise run the counting queries over the approvals table on every scrape.
 */
import { type Approval, type ErrorCode, TERMINAL_STATUSES } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Where a command came in: the NATS services framework or the HTTP API / web pages. */
export type Transport = 'nats' | 'http';

/** What happened to an intake message that failed: retried later, recorded rejected, dead-lettered. */
export type IntakeDisposition = 'retried' | 'rejected' | 'dead_lettered';

export interface ApprovalMetrics {
  registry: Registry;
  /** A command answered an error. */
  commandError(transport: Transport, command: string, code: ErrorCode): void;
  /** An intake message could not be recorded as a valid request. */
  intakeError(code: ErrorCode, disposition: IntakeDisposition): void;
  /** A vote completed an approval: observes request-to-decision time. */
  decided(approval: Approval): void;
  /** One HTTP request answered. */
  httpRequest(route: string, method: string, status: number): void;
  /** Open server-sent-event streams. */
  sseClients: Gauge;
  /** The outcome of each readiness check (`postgres`, `nats`, `policy`), as /readyz found it. */
  readiness(checks: Record<string, boolean>): void;
  /** The Prometheus text exposition, with the database gauges freshly read. */
  render(): Promise<string>;
}

/**
 * More distinct action types (or requesters) than this are folded into `other`: requesters choose the type, and
 * an unbounded label would let one misbehaving client blow up every scrape.
 */
const MAX_LABEL_VALUES = 50;

/** From seconds to a week: approvals wait for people, so the tail is long. */
const LATENCY_BUCKETS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86_400, 604_800];

/** What the database gauges are set from: one read, kept for the cache interval. */
interface DatabaseReading {
  at: number;
  counts: { status: string; action_type: string; n: string }[];
  byRequester: { status: string; requested_by: string; n: string }[];
  pending: number;
  outbox: number;
  /** Creation times (epoch ms) of the oldest pending approval and unpublished event, if any. */
  oldestPending: number | null;
  oldestOutbox: number | null;
}

export function createApprovalMetrics(options: {
  pool: pg.Pool;
  logger: Logger;
  /** How long a database reading is reused, in ms (METRICS_CACHE). Default 0: every scrape reads. */
  cacheMs?: number;
}): ApprovalMetrics {
  const cacheMs = options.cacheMs ?? 0;
  const registry = new Registry();
  const registers = [registry];
  const log = options.logger.child({ component: 'metrics' });
  collectDefaultMetrics({ register: registry });

  const commandErrors = new Counter({
    name: 'countersign_command_errors_total',
    help: 'Commands answered with an error, by transport, command and error code.',
    labelNames: ['transport', 'command', 'code'] as const,
    registers,
  });
  const intakeErrors = new Counter({
    name: 'countersign_intake_errors_total',
    help: 'Intake messages that failed, by error code and what became of them (retried, rejected, dead_lettered).',
    labelNames: ['code', 'disposition'] as const,
    registers,
  });
  const latency = new Histogram({
    name: 'countersign_decision_latency_seconds',
    help: 'Time from request to the decision that completed an approval, for decisions taken by people.',
    labelNames: ['status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const httpRequests = new Counter({
    name: 'countersign_http_requests_total',
    help: 'HTTP requests answered, by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const scrapeErrors = new Counter({
    name: 'countersign_metrics_scrape_errors_total',
    help: 'Scrapes whose database gauges could not be read (the gauges are then absent).',
    registers,
  });
  const ready = new Gauge({
    name: 'countersign_ready',
    help: 'Readiness checks at the last scrape: 1 when the dependency answered within HTTP_READY_TIMEOUT, by check (postgres, nats, policy).',
    labelNames: ['check'] as const,
    registers,
  });
  const sseClients = new Gauge({
    name: 'countersign_sse_clients',
    help: 'Open server-sent-event streams (/api/v1/events).',
    registers,
  });

  // Database gauges: no collect() hooks, so one scrape runs each query once, in order, and a
  // failing database removes the series instead of failing the whole scrape.
  const byStatus = new Gauge({
    name: 'countersign_approvals',
    help: `Approvals by status and action type (action types beyond ${MAX_LABEL_VALUES} are counted as "other").`,
    labelNames: ['status', 'action_type'] as const,
    registers,
  });
  const pending = new Gauge({
    name: 'countersign_approvals_pending',
    help: 'Approvals waiting for a decision.',
    registers,
  });
  const oldestPending = new Gauge({
    name: 'countersign_approvals_oldest_pending_age_seconds',
    help: 'Age of the oldest pending approval (0 when none is pending).',
    registers,
  });
  const outboxBacklog = new Gauge({
    name: 'countersign_outbox_backlog',
    help: 'Events written but not yet published to NATS.',
    registers,
  });
  const outboxOldest = new Gauge({
    name: 'countersign_outbox_oldest_age_seconds',
    help: 'Age of the oldest unpublished event (0 when the outbox is empty).',
    registers,
  });
  const byRequester = new Gauge({
    name: 'countersign_approvals_by_requester',
    help: `Approvals by status and requesting identity (requesters beyond ${MAX_LABEL_VALUES} are counted as "other").`,
    labelNames: ['status', 'requested_by'] as const,
    registers,
  });
  const dbGauges = [byStatus, byRequester, pending, oldestPending, outboxBacklog, outboxOldest];

  const readDatabase = async (): Promise<DatabaseReading> => {
    const counts = await options.pool.query<{ status: string; action_type: string; n: string }>(
      `select status, action_type, count(*) as n from approval.approvals group by status, action_type
        order by count(*) desc`,
    );
    const requesters = await options.pool.query<{ status: string; requested_by: string; n: string }>(
      `select status, requested_by, count(*) as n from approval.approvals group by status, requested_by
        order by count(*) desc`,
    );
    const backlog = await options.pool.query<{
      pending: string;
      oldest_pending: number | null;
      outbox: string;
      oldest_outbox: number | null;
    }>(
      `select
         (select count(*) from approval.approvals where status = 'pending') as pending,
         (select extract(epoch from min(created_at))::float8 * 1000
            from approval.approvals where status = 'pending') as oldest_pending,
         (select count(*) from approval.outbox where published_at is null) as outbox,
         (select extract(epoch from min(created_at))::float8 * 1000
            from approval.outbox where published_at is null) as oldest_outbox`,
    );
    const b = backlog.rows[0];
    return {
      at: Date.now(),
      counts: counts.rows,
      byRequester: requesters.rows,
      pending: Number(b?.pending ?? 0),
      outbox: Number(b?.outbox ?? 0),
      oldestPending: b?.oldest_pending ?? null,
      oldestOutbox: b?.oldest_outbox ?? null,
    };
  };

  let cached: DatabaseReading | undefined;
  let reading: Promise<DatabaseReading> | undefined;
  /** The cached reading while it is fresh; else one read shared by the scrapes that ask meanwhile. */
  const currentReading = (): Promise<DatabaseReading> => {
    if (cached && Date.now() - cached.at < cacheMs) return Promise.resolve(cached);
    reading ??= readDatabase()
      .then((r) => {
        cached = r;
        return r;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  const setDatabaseGauges = (r: DatabaseReading): void => {
    for (const g of dbGauges) g.reset();
    const types = new Set<string>();
    for (const row of r.counts) {
      if (types.size < MAX_LABEL_VALUES) types.add(row.action_type);
      const action_type = types.has(row.action_type) ? row.action_type : 'other';
      byStatus.inc({ status: row.status, action_type }, Number(row.n));
    }
    // Requesters are directory identities, but as many as the directory lists: bounded the same way.
    const requesterNames = new Set<string>();
    for (const row of r.byRequester) {
      if (requesterNames.size < MAX_LABEL_VALUES) requesterNames.add(row.requested_by);
      const requested_by = requesterNames.has(row.requested_by) ? row.requested_by : 'other';
      byRequester.inc({ status: row.status, requested_by }, Number(row.n));
    }
    // Ages from the cached creation times and the clock now: a cached reading's ages still grow.
    const now = Date.now();
    pending.set(r.pending);
    oldestPending.set(r.oldestPending === null ? 0 : Math.max(0, (now - r.oldestPending) / 1000));
    outboxBacklog.set(r.outbox);
    outboxOldest.set(r.oldestOutbox === null ? 0 : Math.max(0, (now - r.oldestOutbox) / 1000));
  };

  return {
    registry,
    sseClients,
    readiness: (checks) => {
      ready.reset();
      for (const [check, ok] of Object.entries(checks)) ready.set({ check }, ok ? 1 : 0);
    },
    commandError: (transport, command, code) => commandErrors.inc({ transport, command, code }),
    intakeError: (code, disposition) => intakeErrors.inc({ code, disposition }),
    decided: (approval) => {
      if (!(TERMINAL_STATUSES as readonly string[]).includes(approval.status) || !approval.decided_at) return;
      const seconds = (Date.parse(approval.decided_at) - Date.parse(approval.created_at)) / 1000;
      latency.observe({ status: approval.status }, Math.max(0, seconds));
    },
    httpRequest: (route, method, status) => httpRequests.inc({ route, method, status: String(status) }),
    render: async () => {
      try {
        setDatabaseGauges(await currentReading());
      } catch (err) {
        scrapeErrors.inc();
        for (const g of dbGauges) g.reset();
        log.warn({ err }, 'could not read the database gauges');
      }
      return registry.metrics();
    },
  };
}
