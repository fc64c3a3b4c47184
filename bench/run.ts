/**
 * `pnpm bench`: runs the scenarios one after the other (each starts and stops its own
 * infrastructure), prints their tables, and writes bench/results/<name>.json and .md.
 *
 *   pnpm bench                      # everything, 3 runs per measurement (≈ 15 min)
 *   pnpm bench --quick              # 1 short run each, small data: for iterating
 *   pnpm bench --only policy,e2e    # some scenarios (ids: policy, e2e, waiters, scale)
 *   pnpm bench --out name           # results file name (default: latest; tmp/quick with --quick, ignored by git)
 *   BENCH_CPU_PROF=dir pnpm bench   # also a V8 CPU profile per service, summarised in the results
 *
 * Benchmarks report; they do not assert. The exit code is non-zero only when a scenario could
 * not run at all.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '@countersign/devinfra';
import { stopOnSignals } from './lib/cleanup.js';
import { type BenchContext, createContext } from './lib/context.js';
import { summariseProfiles } from './lib/cpu-profile.js';
import { load1, machineInfo } from './lib/machine.js';
import { type BenchResults, printScenario, type ScenarioResult, writeResults } from './lib/report.js';
import { e2eScenario } from './scenarios/e2e.js';
import { policyScenario } from './scenarios/policy.js';
import { scaleScenario } from './scenarios/scale.js';
import { waitersScenario } from './scenarios/waiters.js';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ScenarioResult>> = {
  policy: policyScenario,
  e2e: e2eScenario,
  waiters: waitersScenario,
  scale: scaleScenario,
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const only = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
const unknown = only.filter((id) => !(id in SCENARIOS));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}

stopOnSignals();
const ctx = createContext(quick);
const started = performance.now();
const loadBefore = load1();
ctx.log(`load average ${loadBefore}; ${quick ? 'quick mode' : `${ctx.runs} runs per measurement`}`);
const machine = machineInfo();
const scenarios: ScenarioResult[] = [];
const failures: { id: string; error: string }[] = [];
for (const id of only) {
  ctx.log(`scenario ${id}`);
  try {
    const result = await (SCENARIOS[id] as (ctx: BenchContext) => Promise<ScenarioResult>)(ctx);
    scenarios.push(result);
    printScenario(result);
  } catch (err) {
    console.error(`scenario ${id} failed:`, err);
    failures.push({ id, error: (err as Error).message ?? String(err) });
  }
}

const results: BenchResults = {
  date: new Date().toISOString(),
  command: `pnpm bench${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  quick,
  runsPerMeasurement: ctx.runs,
  machine,
  load: { before: loadBefore, after: load1() },
  scenarios,
  failures,
  // The services wrote their profiles when the scenarios stopped them.
  ...(process.env.BENCH_CPU_PROF ? { profiles: summariseProfiles(process.env.BENCH_CPU_PROF) } : {}),
  totalSeconds: (performance.now() - started) / 1000,
};
const written = writeResults(
  join(REPO_ROOT, 'bench/results'),
  values.out ?? (quick ? 'tmp/quick' : 'latest'),
  results,
);
ctx.log(`wrote ${written.join(', ')}`);
process.exitCode = failures.length > 0 ? 1 : 0;
