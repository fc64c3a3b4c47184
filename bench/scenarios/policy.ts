/**
 * Scenario 1, policy decisions: the WASM evaluation in-process; `policy.evaluate` over NATS
 * against the real service process (one and two replicas); and OPA's own server
 * (`opa run --server` on the same policies/ directory) over HTTP, driven by the same load
 * generator in the same process at the same concurrency, runs alternating so drift in the
 * machine's load hits both alike.
 */
import { Headers } from '@countersign/contracts';
import { freePort, spawnManaged, startNatsServer, stopProcess, tool, waitFor } from '@countersign/devinfra';
import type { NatsConnection } from '@nats-io/nats-core';
import { Pool } from 'undici';
import {
  buildBundle,
  DEFAULT_POLICY_DIR,
  PolicyEngine,
  readBundle,
} from '../../services/policy/src/index.js';
import { Cleanup } from '../lib/cleanup.js';
import type { BenchContext } from '../lib/context.js';
import { type ClosedLoopResult, closedLoop } from '../lib/load.js';
import { fmt, fmtMs, type ScenarioResult } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { benchNatsAuth, connectBench, startPolicy } from '../lib/system.js';

/** A typical request: a payment that needs finance approval. */
const request = {
  action_id: 'bench-1',
  action_type: 'payment',
  description: 'Pay invoice 42 to ACME Corp',
  requested_by: 'dave',
  run_id: 'bench-run',
  context: { amount: 1500, currency: 'EUR', resource: 'invoice/42' },
};

const CONCURRENCIES: readonly number[] = [1, 64];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Runs {
  perSecond: number[];
  p50: number[];
  p99: number[];
  errors: number;
}

function record(runs: Runs, result: ClosedLoopResult): void {
  const latency = summarize(result.latenciesMs);
  runs.perSecond.push(result.perSecond);
  runs.p50.push(latency.p50);
  runs.p99.push(latency.p99);
  runs.errors += result.errors;
  if (result.errors > 0) console.warn(`  ${result.errors} errors, first: ${String(result.firstError)}`);
}

const emptyRuns = (): Runs => ({ perSecond: [], p50: [], p99: [], errors: 0 });

/** policy.evaluate over NATS: the bytes of the request, the reply parsed as JSON, errors thrown. */
function natsEvaluate(nc: NatsConnection): () => Promise<unknown> {
  const body = encoder.encode(JSON.stringify(request));
  return async () => {
    const reply = await nc.request('policy.evaluate', body, { timeout: 5000 });
    if (reply.headers?.get(Headers.serviceErrorCode))
      throw new Error(reply.headers.get(Headers.serviceError));
    return JSON.parse(decoder.decode(reply.data));
  };
}

/**
 * OPA's data API with the same input the policy service gives the WASM module (the request plus
 * `now`), over keep-alive HTTP/1.1 with one connection per concurrent caller.
 */
function opaEvaluate(pool: Pool): () => Promise<unknown> {
  const body = JSON.stringify({ input: { ...request, now: new Date().toISOString() } });
  return async () => {
    const res = await pool.request({
      path: '/v1/data/countersign/decision/result',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const json = (await res.body.json()) as { result?: { outcome?: string } };
    if (res.statusCode !== 200 || !json.result?.outcome) throw new Error(`OPA answered ${res.statusCode}`);
    return json;
  };
}

async function startOpaServer(cleanup: Cleanup): Promise<string> {
  const port = await freePort();
  // --log-level error: no per-request access log, OPA at its fastest (the policy service, by
  // contrast, writes a decision log line per request).
  const opa = spawnManaged(tool('opa'), [
    'run',
    '--server',
    '--addr',
    `127.0.0.1:${port}`,
    '--log-level',
    'error',
    '--ignore',
    '*_test.rego',
    DEFAULT_POLICY_DIR,
  ]);
  cleanup.add('opa server', () => stopProcess(opa, 'SIGTERM', 10_000));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('opa server', async () => {
    if (opa.child.exitCode !== null) throw new Error(`opa exited:\n${opa.output()}`);
    return fetch(`${url}/health`)
      .then((r) => r.ok)
      .catch(() => false);
  });
  return url;
}

export async function policyScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const started = performance.now();
  const seconds = ctx.seconds(4, 2);
  const warmup = ctx.seconds(1, 0.5);
  const cleanup = new Cleanup();
  try {
    // In-process: the WASM evaluation with the result checked against the contract.
    const bundle = readBundle((await buildBundle({ dir: DEFAULT_POLICY_DIR, opaBin: tool('opa') })).bytes);
    const engine = await PolicyEngine.load(bundle);
    const input = { ...request, now: new Date().toISOString() };
    const inProcess = emptyRuns();
    const decide = async () => engine.decide(input);
    await closedLoop({ concurrency: 1, seconds: warmup, op: decide });
    for (let run = 0; run < ctx.runs; run++) {
      record(inProcess, await closedLoop({ concurrency: 1, seconds, op: decide }));
    }
    ctx.log(`in-process: ${fmt(median(inProcess.perSecond))} evaluations/s`);

    const nats = await startNatsServer({ extraConfig: benchNatsAuth().config() });
    cleanup.add('nats-server', () => nats.stop());
    const nc = await connectBench(nats.url, cleanup);
    await startPolicy(cleanup, nats.url);
    const opaUrl = await startOpaServer(cleanup);
    const opaPool = new Pool(opaUrl, { connections: Math.max(...CONCURRENCIES), pipelining: 1 });
    cleanup.add('opa client', () => opaPool.close());

    const viaNats = natsEvaluate(nc);
    const viaOpa = opaEvaluate(opaPool);
    const results = {
      nats1: new Map(CONCURRENCIES.map((c) => [c, emptyRuns()])),
      nats2: new Map(CONCURRENCIES.map((c) => [c, emptyRuns()])),
      opa: new Map(CONCURRENCIES.map((c) => [c, emptyRuns()])),
    };
    const measure = async (key: 'nats1' | 'nats2') => {
      for (const concurrency of CONCURRENCIES) {
        await closedLoop({ concurrency, seconds: warmup, op: viaNats });
        await closedLoop({ concurrency, seconds: warmup, op: viaOpa });
        // Alternating, so a change in the machine's load during the runs hits both sides.
        for (let run = 0; run < ctx.runs; run++) {
          record(
            results[key].get(concurrency) as Runs,
            await closedLoop({ concurrency, seconds, op: viaNats }),
          );
          record(
            results.opa.get(concurrency) as Runs,
            await closedLoop({ concurrency, seconds, op: viaOpa }),
          );
        }
        ctx.log(
          `${key} c=${concurrency}: NATS ${fmt(median(results[key].get(concurrency)?.perSecond ?? []))}/s, ` +
            `OPA ${fmt(median(results.opa.get(concurrency)?.perSecond ?? []))}/s`,
        );
      }
    };
    await measure('nats1');
    // A second replica in the same queue group: NATS spreads the requests over both.
    await startPolicy(cleanup, nats.url);
    await measure('nats2');

    const row = (what: string, replicas: string, concurrency: number, runs: Runs, unit = 'µs') => {
      const scale = unit === 'µs' ? 1000 : 1;
      return [
        what,
        replicas,
        concurrency,
        fmt(median(runs.perSecond)),
        unit === 'µs' ? fmt(median(runs.p50) * scale, 1) : fmtMs(median(runs.p50)),
        unit === 'µs' ? fmt(median(runs.p99) * scale, 1) : fmtMs(median(runs.p99)),
        runs.perSecond.map((v) => fmt(v)).join(', '),
        runs.errors,
      ];
    };
    const rows: (string | number)[][] = [row('in-process decide() (WASM)', '-', 1, inProcess)];
    for (const c of CONCURRENCIES) {
      rows.push(row('policy.evaluate over NATS', '1', c, results.nats1.get(c) as Runs, 'ms'));
      rows.push(row('policy.evaluate over NATS', '2', c, results.nats2.get(c) as Runs, 'ms'));
      rows.push(row('OPA server, POST /v1/data (HTTP)', 'opa', c, results.opa.get(c) as Runs, 'ms'));
    }

    const top = Math.max(...CONCURRENCIES);
    const opaTop = results.opa.get(top) as Runs;
    const goals = (['nats1', 'nats2'] as const).map((key) => {
      const ours = results[key].get(top) as Runs;
      const ratio = median(ours.perSecond) / median(opaTop.perSecond);
      const p99Lower = median(ours.p99) < median(opaTop.p99);
      const replicas = key === 'nats1' ? 1 : 2;
      return {
        goal: `policy.evaluate over NATS (${replicas} replica${replicas > 1 ? 's' : ''}, concurrency ${top}) ≥ 1.5× OPA server throughput, lower p99`,
        measured: `${fmt(ratio, 2)}× (${fmt(median(ours.perSecond))} vs ${fmt(median(opaTop.perSecond))} req/s); p99 ${fmtMs(median(ours.p99))} vs ${fmtMs(median(opaTop.p99))} ms`,
        met: ratio >= 1.5 && p99Lower,
      };
    });
    return {
      id: 'policy',
      title: '1. Policy decisions',
      tables: [
        {
          title: `Requests per second and latency (median of ${ctx.runs} run(s) of ${seconds} s; in-process latency in µs, the others in ms)`,
          columns: ['what', 'replicas', 'concurrency', 'req/s', 'p50', 'p99', 'req/s per run', 'errors'],
          rows,
        },
      ],
      goals,
      notes: [
        'Same request everywhere: a 1,500 EUR payment that needs finance approval. The OPA server gets the input the policy service hands its WASM module (the request plus `now`).',
        'The load generator is one Node process on the same machine for both (NATS: @nats-io request/reply; OPA: undici with keep-alive, one connection per concurrent caller); both replies are parsed as JSON.',
        'The policy service validates each request against the contract, evaluates the WASM policy, validates the result, and writes a decision log line per request; OPA runs with --log-level error (no access log).',
        'OPA runs its Go HTTP server on every core; one policy replica is one Node process (one core), two replicas share the queue group.',
      ],
      data: {
        inProcess,
        ...Object.fromEntries(Object.entries(results).map(([k, m]) => [k, Object.fromEntries(m)])),
      },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cleanup.run();
  }
}
