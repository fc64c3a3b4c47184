/**
 * The alert rules and the dashboard ops load: promtool checks the rules and the Prometheus
 * configuration and runs the rules' unit tests (input series, expected alerts), every alert
 * carries a runbook that docs/operations.md has a section for, and every expression, in the
 * rules and in the Grafana dashboard, names only metrics the services export.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@countersign/devinfra';
import { createLogger } from '@countersign/runtime';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createApprovalMetrics } from '../services/approval/src/metrics.js';
import { createNotifierMetrics } from '../services/notifier/src/metrics.js';

const run = promisify(execFile);
const testLogger = createLogger({ service: 'alerts-test', level: 'silent' });
const PROMETHEUS_DIR = join(REPO_ROOT, 'deploy/prometheus');
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** promtool (the test command installs it: scripts/install-promtool.sh); its output on failure. */
async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: PROMETHEUS_DIR });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = (
  parse(read('deploy/prometheus/alerts.yaml')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(read('deploy/grafana/countersign.json')) as { uid: string; panels: Panel[] };

/** Every series name the services export (histograms with their _bucket, _count and _sum). */
async function exportedNames(): Promise<Set<string>> {
  // Registries are built without a scrape: the pool is never connected.
  const pool = new pg.Pool({ connectionString: 'postgres://unused@127.0.0.1:1/unused' });
  const registries = [
    createApprovalMetrics({ pool, logger: testLogger }).registry,
    createNotifierMetrics({ pool, logger: testLogger, cacheMs: 0 }).registry,
  ];
  const names = new Set<string>(['up']);
  for (const registry of registries) {
    for (const metric of await registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === 'histogram')
        for (const suffix of ['_bucket', '_count', '_sum']) names.add(`${metric.name}${suffix}`);
    }
  }
  await pool.end();
  for (const rule of rules) if (rule.record) names.add(rule.record);
  return names;
}

/** The metric names an expression refers to: identifiers outside strings and label matchers. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/\b(countersign[_:][A-Za-z0-9_:]*|up)\b/g)].map((m) => m[1] as string);
}

/** GitHub's anchor of a markdown heading. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

describe('promtool', () => {
  it('is installed by the test command alone, idempotently', async () => {
    const testSh = read('scripts/test.sh');
    expect(testSh.indexOf('bash scripts/install-promtool.sh')).toBeGreaterThan(0);
    expect(testSh.indexOf('bash scripts/install-promtool.sh')).toBeLessThan(
      testSh.indexOf('pnpm exec vitest'),
    );
    expect(read('scripts/run.sh')).not.toContain('promtool');
    // With promtool present (the test command put it there) the installer does nothing.
    const again = await run('bash', ['scripts/install-promtool.sh'], { cwd: REPO_ROOT });
    expect(again.stdout + again.stderr).toBe('');
  });
});

describe('alert rules (deploy/prometheus/alerts.yaml)', () => {
  it('pass promtool check rules, and the Prometheus configuration that loads them passes check config', async () => {
    expect(await promtool('check', 'rules', 'alerts.yaml')).toMatch(/SUCCESS: \d+ rules found/);
    expect(await promtool('check', 'config', 'prometheus.yml')).toContain('is valid prometheus config file');
  });

  it('pass their unit tests: promtool test rules alerts.test.yaml', async () => {
    expect(await promtool('test', 'rules', 'alerts.test.yaml')).toContain('SUCCESS');
  });

  it('cover the seed alerts and the operational ones, each tested and with a runbook in docs/operations.md', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      [
        'CountersignApprovalsExpired',
        'CountersignCommandsFailing',
        'CountersignDown',
        'CountersignHighRejectionRate',
        'CountersignIntakeDeadLetters',
        'CountersignNotReady',
        'CountersignNotifierBacklog',
        'CountersignNotifierDeadLetters',
        'CountersignOutboxStuck',
        'CountersignPendingTooLong',
        'CountersignPolicyUnavailable',
        'CountersignTooManyPending',
      ].sort(),
    );
    const tests = read('deploy/prometheus/alerts.test.yaml');
    const headings = new Set(
      read('docs/operations.md')
        .split('\n')
        .filter((l) => l.startsWith('#'))
        .map((l) => anchor(l.replace(/^#+/, ''))),
    );
    for (const alert of alerts) {
      const name = alert.alert as string;
      expect(alert.labels?.severity, name).toMatch(/^(warning|critical)$/);
      expect(alert.annotations?.summary, name).toBeTruthy();
      expect(alert.annotations?.runbook, name).toBeTruthy();
      const url = alert.annotations?.runbook_url ?? '';
      expect(url, name).toMatch(/\/docs\/operations\.md#/);
      expect(headings.has(url.split('#')[1] as string), `${name}: ${url} has no section`).toBe(true);
      // Each alert fires in at least one unit test (and the tests name it).
      expect(tests, name).toContain(`alertname: ${name}`);
    }
  });

  it('and the dashboard name only metrics the services export', async () => {
    const known = await exportedNames();
    const expressions = [
      ...rules.map((r) => ({ where: r.alert ?? r.record, expr: r.expr })),
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
    ];
    expect(expressions.length).toBeGreaterThan(20);
    // The dashboard's expressions parse: promtool checks them as recording rules.
    const dir = mkdtempSync(join(tmpdir(), 'countersign-dashboard-'));
    try {
      const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
      const file = join(dir, 'dashboard.rules.yaml');
      writeFileSync(
        file,
        stringify({
          groups: [
            { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:panel_${i}`, expr })) },
          ],
        }),
      );
      expect(await promtool('check', 'rules', file)).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const { where, expr } of expressions) {
      const names = metricsIn(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(known.has(name), `${where}: ${name} is not exported`).toBe(true);
    }
  });
});

describe('the Grafana dashboard (deploy/grafana/countersign.json)', () => {
  it('has panels for the seed signals and the operational ones, on the provisioned data source', () => {
    const datasource = parse(read('deploy/grafana/provisioning/datasources/prometheus.yaml')) as {
      datasources: { uid: string; url: string }[];
    };
    const uid = datasource.datasources[0]?.uid;
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const metric of [
      'countersign_approvals_pending',
      'countersign_approvals_oldest_pending_age_seconds',
      'countersign_decision_latency_seconds_bucket',
      'countersign:approvals_by_status{status="rejected"}',
      'countersign:approvals_by_status{status="expired"}',
      'countersign_ready',
      'countersign_outbox_oldest_age_seconds',
      'countersign_intake_errors_total',
      'countersign_notifier_deliveries',
      'countersign_command_errors_total',
      'countersign_approvals_by_requester',
    ])
      expect(exprs, metric).toContain(metric);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect((panel as { datasource?: { uid?: string } }).datasource?.uid, panel.title).toBe(uid);
    }
    expect(datasource.datasources[0]?.url).toBe('http://prometheus:9090');
  });
});
