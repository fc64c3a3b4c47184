/**
 * A real trace collector for the tracing test: Jaeger v2 (OTLP/HTTP receiver, in-memory
 * storage, the query API) built by scripts/install-tools.sh like opa and nats-server, started
 * on loopback ports of its own and stopped after the test file.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@countersign/devinfra';
import { onFileEnd } from './resources.js';
import { waitUntil } from './wait.js';

/** One span as Jaeger's query API (`GET /api/traces/<id>`) returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: { key: string; type: string; value: unknown }[];
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface TestJaeger {
  /** OTEL_EXPORTER_OTLP_ENDPOINT for the services and the test process. */
  otlpEndpoint: string;
  /** The query API and UI. */
  queryUrl: string;
  /** The trace as stored now, or undefined while Jaeger has none of its spans. */
  trace(traceId: string): Promise<JaegerTrace | undefined>;
}

/** The Jaeger binary: built on first use (minutes, once), cached afterwards. */
function jaegerBinary(): string {
  const out = execFileSync('bash', [join(REPO_ROOT, 'scripts/install-tools.sh'), 'jaeger'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').at(-1) ?? '';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function config(ports: { otlp: number; query: number; grpc: number; health: number }): string {
  const host = '127.0.0.1';
  return `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ${host}:${ports.health}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: ${host}:${ports.query}
    grpc:
      endpoint: ${host}:${ports.grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${host}:${ports.otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;
}

/** Starts Jaeger for this test file; it is stopped after the file's tests. */
export async function useJaeger(): Promise<TestJaeger> {
  const binary = jaegerBinary();
  const ports = {
    otlp: await freePort(),
    query: await freePort(),
    grpc: await freePort(),
    health: await freePort(),
  };
  const file = join(mkdtempSync(join(tmpdir(), 'countersign-jaeger-')), 'config.yaml');
  writeFileSync(file, config(ports));
  const output: string[] = [];
  const child: ChildProcess = spawn(binary, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onFileEnd(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const queryUrl = `http://127.0.0.1:${ports.query}`;
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`jaeger exited with ${child.exitCode}`);
        return (await fetch(`${queryUrl}/api/services`).catch(() => undefined))?.ok === true;
      },
      { timeout: 30_000, message: 'jaeger query API answering' },
    );
  } catch (err) {
    throw new Error(`jaeger did not start: ${String(err)}\n${output.join('')}`);
  }
  return {
    otlpEndpoint: `http://127.0.0.1:${ports.otlp}`,
    queryUrl,
    async trace(traceId) {
      const response = await fetch(`${queryUrl}/api/traces/${traceId}`);
      if (response.status === 404) return undefined;
      if (!response.ok) throw new Error(`jaeger answered ${response.status}: ${await response.text()}`);
      const body = (await response.json()) as { data: JaegerTrace[] };
      return body.data[0];
    },
  };
}
