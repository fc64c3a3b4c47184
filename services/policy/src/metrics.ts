/**
 * The policy service's Prometheus metrics, on its own registry (two services in one process,
 * as in tests, must not collide), served at `/metrics` when POLICY_METRICS_PORT is set.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@countersign/runtime';
import { Counter, Registry } from 'prom-client';

export interface PolicyMetrics {
  registry: Registry;
  /** A request evaluated by the shadow policy too; `agreed` false when a compared field differs. */
  shadowEvaluated(revision: string, shadowRevision: string, agreed: boolean): void;
  /** The shadow policy failed closed on a request the live one decided. */
  shadowFailed(revision: string, shadowRevision: string): void;
}

export function createPolicyMetrics(): PolicyMetrics {
  const registry = new Registry();
  const evaluations = new Counter({
    name: 'countersign_policy_shadow_evaluations_total',
    help: 'Requests the shadow policy evaluated beside the live one',
    labelNames: ['revision', 'shadow_revision'],
    registers: [registry],
  });
  const disagreements = new Counter({
    name: 'countersign_policy_shadow_disagreements_total',
    help: 'Requests on which the shadow policy decided otherwise than the live one (outcome, approvals, roles or risk), or failed',
    labelNames: ['revision', 'shadow_revision', 'kind'],
    registers: [registry],
  });
  return {
    registry,
    shadowEvaluated(revision, shadow_revision, agreed) {
      evaluations.inc({ revision, shadow_revision });
      if (!agreed) disagreements.inc({ revision, shadow_revision, kind: 'decision' });
    },
    shadowFailed(revision, shadow_revision) {
      evaluations.inc({ revision, shadow_revision });
      disagreements.inc({ revision, shadow_revision, kind: 'error' });
    },
  };
}

/** Serves `/metrics` on `port` (0: any free port); resolves with the server and its URL. */
export async function serveMetrics(
  metrics: PolicyMetrics,
  port: number,
  host: string,
  logger: Logger,
): Promise<{ url: string; stop(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: unknown) => {
        logger.error({ err }, 'metrics rendering failed');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}/metrics`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
