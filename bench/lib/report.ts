/** Results: what each scenario returns, the console table, and the JSON and Markdown files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServiceProfile } from './cpu-profile.js';
import type { MachineInfo } from './machine.js';

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface Goal {
  goal: string;
  /** The measured figure, formatted, e.g. "2,340 approvals/s". */
  measured: string;
  /** 'n/a' when the goal's condition did not hold in this run (it is then neither met nor missed). */
  met: boolean | 'n/a';
  /** What limits it (always said when not met). */
  note?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  tables: Table[];
  goals: Goal[];
  notes: string[];
  /** Raw figures for the JSON file (every run, not just medians). */
  data: Record<string, unknown>;
  seconds: number;
}

export interface BenchResults {
  date: string;
  command: string;
  quick: boolean;
  runsPerMeasurement: number;
  machine: MachineInfo;
  /** 1-minute load average before and after: other work on the machine skews the figures. */
  load: { before: number; after: number };
  scenarios: ScenarioResult[];
  /** Scenarios that failed to run, with why. */
  failures: { id: string; error: string }[];
  /** Where each service's CPU went, when the run wrote CPU profiles (BENCH_CPU_PROF). */
  profiles?: ServiceProfile[];
  totalSeconds: number;
}

/** Numbers for people: thousands separators, a fixed number of decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds with a precision that suits their size. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms < 1 ? fmt(ms, 3) : ms < 10 ? fmt(ms, 2) : ms < 100 ? fmt(ms, 1) : fmt(ms);
}

export function printScenario(result: ScenarioResult): void {
  console.log(`\n## ${result.title} (${fmt(result.seconds)} s)`);
  for (const table of result.tables) {
    console.log(`\n${table.title}`);
    console.table(table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]]))));
  }
  for (const goal of result.goals) {
    console.log(
      `${goal.met === 'n/a' ? 'N/A    ' : goal.met ? 'MET    ' : 'NOT MET'}  ${goal.goal}: ${goal.measured}${goal.note ? ` (${goal.note})` : ''}`,
    );
  }
  for (const note of result.notes) console.log(`- ${note}`);
}

function markdownTable(columns: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => String(v).replaceAll('|', '\\|').replaceAll('\n', ' ');
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function toMarkdown(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    '# Countersign benchmark results',
    '',
    `Measured ${results.date} with \`${results.command}\`${results.quick ? ' (quick mode: short runs, smaller data; not for comparison)' : ''}; ` +
      `${results.runsPerMeasurement} run(s) per measurement, tables show the median of the runs; ${fmt(results.totalSeconds)} s in all.`,
    'How to read and reproduce these: [docs/benchmarks.md](../../docs/benchmarks.md).',
    '',
    markdownTable(
      ['machine', ''],
      [
        ['CPU', `${m.cpuModel}, ${m.cores} cores`],
        ['memory', `${m.memoryGiB} GiB`],
        ['load average (1 min) before / after', `${results.load.before} / ${results.load.after}`],
        ['Node', m.node],
        ['PostgreSQL', m.postgres],
        ['pgbench', m.pgbench],
        ['nats-server', m.natsServer],
        ['OPA', m.opa],
        ['commit', m.commit],
      ],
    ),
    '',
    '## Goals',
    '',
    markdownTable(
      ['scenario', 'goal', 'measured', 'met', 'what limits it'],
      results.scenarios.flatMap((s) =>
        s.goals.map((g) => [
          s.title,
          g.goal,
          g.measured,
          g.met === 'n/a' ? 'does not apply' : g.met ? 'met' : '**not met**',
          g.note ?? '',
        ]),
      ),
    ),
  ];
  for (const failure of results.failures) {
    lines.push('', `**${failure.id} failed to run:** ${failure.error}`);
  }
  for (const s of results.scenarios) {
    lines.push('', `## ${s.title}`, '');
    for (const t of s.tables) lines.push(`**${t.title}**`, '', markdownTable(t.columns, t.rows), '');
    for (const n of s.notes) lines.push(`- ${n}`);
  }
  if (results.profiles) lines.push('', profileMarkdown(results.profiles));
  return `${lines.join('\n')}\n`;
}

/** The CPU profiles' summary: per service, self time by source and the busiest functions. */
export function profileMarkdown(profiles: ServiceProfile[]): string {
  const lines = [
    '## Where the CPU goes (V8 CPU profiles)',
    '',
    'Self time, idle excluded, summed over every start of the service in this run; a dependency by package, a Node built-in by module, our code by file.',
  ];
  const share = (p: { what: string; ms: number; percent: number }) => [
    p.what,
    fmt(p.ms),
    `${fmt(p.percent, 1)} %`,
  ];
  for (const p of profiles) {
    lines.push('', `**${p.service}** (${fmt(p.busyMs)} ms busy over ${p.profiles} profile(s))`, '');
    lines.push(markdownTable(['source', 'ms', 'share'], p.bySource.map(share)), '');
    lines.push(markdownTable(['function', 'ms', 'share'], p.byFunction.map(share)));
  }
  return lines.join('\n');
}

/** Writes `<name>.json` and `<name>.md` into `dir`; returns their paths. */
export function writeResults(dir: string, name: string, results: BenchResults): string[] {
  const json = join(dir, `${name}.json`);
  const md = join(dir, `${name}.md`);
  mkdirSync(dirname(json), { recursive: true });
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(md, toMarkdown(results));
  return [json, md];
}
