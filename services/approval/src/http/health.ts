/**
 * `/healthz`: the process answers. `/readyz`: it can do its work, i.e. Postgres, NATS and the
 * policy service all answer within a short timeout, and it is not shutting down. `/metrics`:
 * Prometheus text. None of them needs a token (they carry no approval content).
 */
import { callEndpoint } from '@countersign/client';
import { CountersignError } from '@countersign/contracts';
import type { HttpApp, Route } from './app.js';
import { sendJson, sendText } from './io.js';

interface Check {
  ok: boolean;
  ms: number;
  error?: string;
  revision?: string;
}

async function timed(timeoutMs: number, what: string, fn: () => Promise<Partial<Check> | undefined>) {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const extra = await Promise.race([fn(), timeout]);
    return { ok: true, ms: Date.now() - started, ...extra } satisfies Check;
  } catch (err) {
    // Messages only: no connection strings or stack traces on an unauthenticated endpoint.
    const message =
      err instanceof CountersignError || (err instanceof Error && err.message.startsWith(what))
        ? err.message
        : `${what} is unreachable`;
    return { ok: false, ms: Date.now() - started, error: message } satisfies Check;
  } finally {
    clearTimeout(timer);
  }
}

/** PostgreSQL, NATS and the policy service, each answering within `timeoutMs` or not. */
async function readinessChecks(app: HttpApp, timeoutMs: number) {
  const [postgres, nats, policy] = await Promise.all([
    timed(timeoutMs, 'postgres', async () => {
      await app.deps.pool.query('select 1');
      return undefined;
    }),
    timed(timeoutMs, 'nats', async () => {
      if (app.nc.isClosed()) throw new Error('closed');
      await app.nc.flush();
      return undefined;
    }),
    timed(timeoutMs, 'policy', async () => {
      const info = await callEndpoint(app.nc, 'policyInfo', {}, { timeout: timeoutMs });
      return { revision: info.revision };
    }),
  ]);
  return { postgres, nats, policy };
}

export function healthRoutes(app: HttpApp): Route[] {
  const timeoutMs = app.settings.readyTimeoutMs;
  return [
    {
      method: 'GET',
      path: '/healthz',
      name: 'healthz',
      kind: 'api',
      handle: async ({ res }) => sendJson(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: '/readyz',
      name: 'readyz',
      kind: 'api',
      handle: async ({ res }) => {
        if (app.draining()) {
          sendJson(res, 503, { status: 'draining' });
          return;
        }
        const { postgres, nats, policy } = await readinessChecks(app, timeoutMs);
        const ready = postgres.ok && nats.ok && policy.ok && !app.draining();
        sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not_ready',
          checks: { postgres, nats, policy },
        });
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      name: 'metrics',
      kind: 'api',
      handle: async ({ res }) => {
        // The same checks as /readyz, as a gauge: an alert on readiness needs no separate prober.
        const checks = await readinessChecks(app, timeoutMs);
        app.metrics.readiness(
          Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check.ok])),
        );
        const text = await app.metrics.render();
        sendText(res, 200, app.metrics.registry.contentType, text);
      },
    },
  ];
}
