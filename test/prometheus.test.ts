/**
 * The Prometheus configuration ops deploy, against the real services: a real Prometheus (the
 * one the test command installs with promtool) loads deploy/prometheus/prometheus.yml with its
 * alert rules, scrapes a running approval service and notifier under the job names the rules
 * expect, and every rule and every dashboard expression evaluates on what it scraped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, spawnManaged, startMailSink, stopProcess } from '@countersign/devinfra';
import { onFileEnd, spawnService, waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { call, httpUrlOf, payment, startSystem, writeMailChannels } from './support.js';

const sys = await startSystem('prometheus', {
  HTTP_PORT: '0',
  REVIEW_LINK_SECRET: 'prometheus-review-link-secret-0123456789',
  METRICS_CACHE: '0',
});
const mail = await startMailSink();
onFileEnd(mail.stop);
const notifierMetricsPort = await freePort();
await spawnService('notifier', {
  env: {
    ...sys.env,
    NOTIFIER_CONFIG: writeMailChannels('scraped-notifier'),
    SMTP_URL: mail.url,
    PUBLIC_URL: httpUrlOf(sys.approval) as string,
    REVIEW_LINK_SECRET: 'prometheus-review-link-secret-0123456789',
    METRICS_PORT: String(notifierMetricsPort),
  },
});
const approvalUrl = new URL(httpUrlOf(sys.approval) as string);

// The deployed configuration, with only what a test must change: the targets (loopback ports
// instead of compose's service names), faster scrapes and evaluations, the rules' absolute path.
interface ScrapeConfig {
  job_name: string;
  scrape_interval?: string;
  static_configs: { targets: string[] }[];
}
const deployed = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
};
const targets: Record<string, string> = {
  'countersign-approval': approvalUrl.host,
  'countersign-notifier': `127.0.0.1:${notifierMetricsPort}`,
};
const dir = mkdtempSync(join(tmpdir(), 'countersign-prometheus-'));
writeFileSync(
  join(dir, 'prometheus.yml'),
  stringify({
    ...deployed,
    global: { ...deployed.global, scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: deployed.rule_files.map((f) => join(REPO_ROOT, 'deploy/prometheus', f)),
    scrape_configs: deployed.scrape_configs.map((c) => ({
      ...c,
      static_configs: [{ targets: [targets[c.job_name] ?? 'missing:1'] }],
    })),
  }),
);
const port = await freePort();
const prometheus = spawnManaged('prometheus', [
  `--config.file=${join(dir, 'prometheus.yml')}`,
  `--storage.tsdb.path=${join(dir, 'data')}`,
  `--web.listen-address=127.0.0.1:${port}`,
]);
onFileEnd(async () => {
  await stopProcess(prometheus, 'SIGTERM', 10_000);
  rmSync(dir, { recursive: true, force: true });
});
const api = async <T>(path: string): Promise<T> => {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
};
const query = (expr: string) =>
  api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    `query?query=${encodeURIComponent(expr)}`,
  );

describe('Prometheus with deploy/prometheus/prometheus.yml', () => {
  it('scrapes the approval service and the notifier under the jobs the rules expect, and evaluates every rule', async () => {
    await call(sys.nc, 'submit', payment(`prom-${Date.now()}`, 1500));
    await waitUntil(
      async () => {
        const data = await api<{ activeTargets: { labels: { job: string }; health: string }[] }>(
          'targets',
        ).catch(() => undefined);
        const up = (data?.activeTargets ?? []).filter((t) => t.health === 'up').map((t) => t.labels.job);
        return up.includes('countersign-approval') && up.includes('countersign-notifier');
      },
      { message: 'both targets up', timeout: 30_000, interval: 250 },
    );
    await waitUntil(
      async () => Number((await query('countersign_approvals_pending')).result[0]?.value[1] ?? 0) >= 1,
      { message: 'a scraped pending approval', timeout: 15_000, interval: 250 },
    );
    expect(
      (await query('countersign_notifier_deliveries')).result.map((r) => r.metric.status).sort(),
    ).toEqual(['dead', 'in_progress', 'scheduled']);
    expect((await query('countersign_ready{check="policy"}')).result[0]?.value[1]).toBe('1');

    // Every rule loaded and evaluated without error; the recording rules have values.
    const rules = await waitUntil(
      async () => {
        const data = await api<{
          groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[];
        }>('rules');
        const all = data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001')) ? all : undefined;
      },
      { message: 'every rule evaluated', timeout: 15_000, interval: 250 },
    );
    expect(rules.length).toBe(14);
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).toBe('ok');
    await waitUntil(
      async () => (await query('countersign:approvals_by_status{status="pending"}')).result.length === 1,
      {
        message: 'the recording rule',
      },
    );
  });

  it('evaluates every dashboard expression on the scraped series', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(REPO_ROOT, 'deploy/grafana/countersign.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
    );
    for (const { title, expr } of exprs) await expect(query(expr), title).resolves.toBeDefined();
    // The panels on what the services report right now have data.
    for (const expr of [
      'max(countersign_approvals_pending)',
      'min by (check) (countersign_ready)',
      'max by (status) (countersign_notifier_deliveries)',
    ])
      expect((await query(expr)).result.length, expr).toBeGreaterThan(0);
  });
});
