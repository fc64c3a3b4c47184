/**
 * Policy benchmark (not a test): evaluations per second in-process, and requests per second
 * over NATS against the real service process, for a typical input at concurrency 1 and 64.
 *
 *   pnpm exec tsx bench/policy.ts          # BENCH_SECONDS=3 per measurement by default
 *
 * Starts its own nats-server; the service logs every decision at info level as in production
 * (its output is discarded here).
 */
import { join } from 'node:path';
import { REPO_ROOT, spawnManaged, startNatsServer, stopProcess, tool, waitFor } from '@countersign/devinfra';
import { callEndpoint } from '../packages/client/src/index.js';
import { connectNats, createLogger } from '../packages/runtime/src/index.js';
import { buildBundle, DEFAULT_POLICY_DIR, PolicyEngine, readBundle } from '../services/policy/src/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Math.min(1, SECONDS);

/** A typical request: a payment that needs finance approval. */
const request = {
  action_id: 'bench-1',
  action_type: 'payment',
  description: 'Pay invoice 42 to ACME Corp',
  requested_by: 'dave',
  run_id: 'bench-run',
  context: { amount: 1500, currency: 'EUR', resource: 'invoice/42' },
};

interface Row {
  what: string;
  concurrency: number;
  ops: number;
  perSecond: number;
  p50us: number;
  p99us: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summarize(what: string, concurrency: number, latenciesMs: number[], elapsedMs: number): Row {
  const sorted = Float64Array.from(latenciesMs).sort();
  return {
    what,
    concurrency,
    ops: sorted.length,
    perSecond: (sorted.length / elapsedMs) * 1000,
    p50us: percentile(sorted, 50) * 1000,
    p99us: percentile(sorted, 99) * 1000,
  };
}

/** Runs `op` in a tight loop for `seconds`, timing each call. */
function measureSync(what: string, seconds: number, op: () => void): Row {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    const t0 = performance.now();
    op();
    now = performance.now();
    latencies.push(now - t0);
  }
  return summarize(what, 1, latencies, now - start);
}

/** Keeps `concurrency` calls of `op` in flight for `seconds`, timing each. */
async function measureAsync(what: string, concurrency: number, seconds: number, op: () => Promise<unknown>) {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(what, concurrency, latencies, performance.now() - start);
}

function printTable(rows: Row[]): void {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
  const table = rows.map((r) => ({
    measurement: r.what,
    concurrency: r.concurrency,
    'ops/s': fmt(r.perSecond),
    'p50 µs': fmt(r.p50us, 1),
    'p99 µs': fmt(r.p99us, 1),
    ops: fmt(r.ops),
  }));
  console.table(table);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const opaBin = tool('opa');

  // In-process: the WASM evaluation itself (validation of the result included).
  const bundle = readBundle((await buildBundle({ dir: DEFAULT_POLICY_DIR, opaBin })).bytes);
  const engine = await PolicyEngine.load(bundle);
  const input = { ...request, now: new Date().toISOString() };
  measureSync('warm-up', WARMUP_SECONDS, () => engine.decide(input));
  rows.push(measureSync('in-process decide()', SECONDS, () => engine.decide(input)));

  // Over NATS: the real service process, requests through the client SDK.
  const nats = await startNatsServer();
  const service = spawnManaged(
    process.execPath,
    [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), join(REPO_ROOT, 'services/policy/src/main.ts')],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, NATS_URL: nats.url, OPA_BIN: opaBin, POLICY_BUCKET: '', LOG_LEVEL: 'info' },
    },
  );
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const nc = await connectNats({ url: nats.url, name: 'policy-bench', logger });
  try {
    // Fail fast if the service dies while starting (waitFor itself would just time out).
    let ready = false;
    const died = service.exited.then((code) => {
      if (!ready) throw new Error(`policy service exited with ${code}:\n${service.output()}`);
    });
    await Promise.race([
      waitFor(
        'the policy service',
        async () => Boolean(await callEndpoint(nc, 'policyInfo', {}, { timeout: 1000 })),
        60_000,
      ),
      died,
    ]);
    ready = true;
    const evaluate = () => callEndpoint(nc, 'evaluate', request);
    await measureAsync('warm-up', 16, WARMUP_SECONDS, evaluate);
    for (const concurrency of [1, 64]) {
      rows.push(await measureAsync('policy.evaluate over NATS', concurrency, SECONDS, evaluate));
    }
  } finally {
    await nc.drain();
    await stopProcess(service, 'SIGTERM', 10_000);
    await nats.stop();
  }

  console.log(
    `policy benchmark: ${SECONDS} s per measurement, Node ${process.version}, revision ${engine.revision}`,
  );
  printTable(rows);
}

await main();
