/**
 * Prints the counts of the last faults run (`.artifacts/faults/<scenario>.json`, written by
 * each scenario) as a markdown table, and writes it to `.artifacts/faults/summary.md`, for
 * docs/reliability.md. `pnpm test:faults` and scripts/test.sh run it after the suite. The
 * directory is cleared when a faults run starts (global-setup.ts), so every file in it belongs
 * to the run just finished; with none, the report fails rather than print an empty table.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@countersign/devinfra';
import { type ScenarioResult, summary } from './summary.js';

const dir = join(REPO_ROOT, '.artifacts/faults');
const results = (existsSync(dir) ? readdirSync(dir) : [])
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .filter((r): r is ScenarioResult => typeof r.scenario === 'string')
  .sort((a, b) => a.at.localeCompare(b.at));
if (results.length === 0) {
  console.error('report: no fault scenario results in .artifacts/faults (did the faults run start?)');
  process.exit(1);
}

const rows = results.map((r) => {
  const s = summary(r);
  const n = s.notifications;
  return [
    s.scenario,
    r.at.slice(0, 16).replace('T', ' '),
    s.requests,
    s.decisions,
    s.retries,
    s.faults,
    s.lost,
    s.duplicated,
    s.violations,
    `${(s.max_recovery_ms / 1000).toFixed(1)} s`,
    n ? `${n.delivered} (${n.retried} retried) / ${n.dead} / ${n.superseded}` : '-',
    n ? n.webhook_repeats : '-',
  ];
});
const header = [
  'scenario',
  'run (UTC)',
  'requests',
  'decisions',
  'client retries',
  'faults',
  'lost',
  'duplicated',
  'violations',
  'slowest recovery',
  'notifications delivered / dead / superseded',
  'webhook repeats',
];
const sum = (pick: (s: ReturnType<typeof summary>) => number) =>
  results.reduce((n, r) => n + pick(summary(r)), 0);
rows.push([
  '**all**',
  '',
  sum((s) => s.requests),
  sum((s) => s.decisions),
  sum((s) => s.retries),
  sum((s) => s.faults),
  sum((s) => s.lost),
  sum((s) => s.duplicated),
  sum((s) => s.violations),
  `${(Math.max(0, ...results.map((r) => summary(r).max_recovery_ms)) / 1000).toFixed(1)} s`,
  '',
  '',
]);
const table = [header, header.map(() => '---'), ...rows]
  .map((cells) => `| ${cells.join(' | ')} |`)
  .join('\n');
// The scale-out scenario's failover and pace, when it ran.
const throughputFile = join(dir, 'cluster-throughput.json');
const throughput = existsSync(throughputFile)
  ? (JSON.parse(readFileSync(throughputFile, 'utf8')) as Record<string, number>)
  : undefined;
const note = throughput
  ? `\ncluster: NATS failover (new stream and consumer leaders) ${(Number(throughput.election_ms) / 1000).toFixed(1)} s, then services ready in ${(Number(throughput.recovery_ms) / 1000).toFixed(1)} s; requests recorded per second before the fault ${Number(throughput.per_second_before).toFixed(1)}, after ${Number(throughput.per_second_after).toFixed(1)}\n`
  : '';
writeFileSync(join(dir, 'summary.md'), `${table}\n${note}`);
console.log(table + note);
