/**
 * The MCP server against the real system: PostgreSQL, an authenticated nats-server whose users
 * come from a directory with two agents and a gateway that acts for them, the policy and approval
 * services, and a real upstream MCP server (in this process, over Streamable HTTP) whose tools
 * count how often they ran.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ServiceProcess,
  spawnService,
  TEST_DIRECTORY_FILE,
  useTestDatabase,
  useTestNats,
} from '@countersign/test-fixtures';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll } from 'vitest';
import { parse, stringify } from 'yaml';
import { z } from 'zod';

export const MCP_MAIN = join(import.meta.dirname, '../src/main.ts');

/** The test directory plus agents and the gateway that acts for two of them. */
export function writeMcpDirectory(label: string): string {
  const directory = parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8'));
  directory.services['agent-a'] = { may_request: ['*'] };
  directory.services['agent-b'] = { may_request: ['*'] };
  directory.services['agent-c'] = { may_request: ['*'] };
  directory.services['mcp-gateway'] = { acts_for: ['agent-a', 'agent-b'] };
  const file = join(tmpdir(), `countersign-mcp-${label}-${process.pid}-${Date.now()}.yaml`);
  writeFileSync(file, stringify(directory));
  return file;
}

export const TOKENS = {
  'agent-a': 'token-of-agent-a-0123456789',
  'agent-b': 'token-of-agent-b-0123456789',
};

export async function startMcpSystem(label: string) {
  const directoryFile = writeMcpDirectory(label);
  const [db, nats] = await Promise.all([useTestDatabase(label), useTestNats({ own: true, directoryFile })]);
  const env = { NATS_URL: nats.url, DATABASE_URL: db.url, DIRECTORY_FILE: directoryFile };
  await Promise.all([
    spawnService('policy', { env }),
    spawnService('approval', { env: { ...env, EXPIRY_INTERVAL: '300ms', OUTBOX_POLL_INTERVAL: '200ms' } }),
  ]);
  const upstream = await startUpstream();
  return { directoryFile, db, nats, env, upstream };
}
export type McpSystem = Awaited<ReturnType<typeof startMcpSystem>>;

/** The gateway over HTTP as the directory's `mcp-gateway`, serving agent-a and agent-b. */
export async function spawnHttpGateway(system: McpSystem, extra: Record<string, string> = {}) {
  const process = await spawnService('mcp', {
    env: {
      ...system.nats.env('mcp-gateway'),
      DIRECTORY_FILE: system.directoryFile,
      MCP_TRANSPORT: 'http',
      MCP_HTTP_PORT: '0',
      MCP_API_TOKENS: Object.entries(TOKENS)
        .map(([agent, token]) => `${token}:${agent}`)
        .join(','),
      MCP_UPSTREAM_URL: system.upstream.url,
      MCP_WAIT: '20s',
      DASHBOARD_URL: 'https://countersign.example.test',
      ...extra,
    },
  });
  return { process, url: () => readyUrl(process) };
}

/** The URL of the last `ready` line (a restart on port 0 gets a new one). */
function readyUrl(service: ServiceProcess): string {
  const ready = service
    .logs()
    .filter((line) => line.includes('"msg":"ready"'))
    .at(-1);
  if (!ready) throw new Error('the MCP server logged no ready line');
  return JSON.parse(ready).url as string;
}

/** The MCP SDK's own client over Streamable HTTP, with a bearer token (or none). */
export async function httpClient(url: string, token?: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
  });
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(transport);
  afterAll(() => client.close());
  return client;
}

/** The MCP SDK's own client, starting the MCP server over stdio as `who` (its NATS user). */
export async function stdioClient(
  system: McpSystem,
  who: string,
  extra: Record<string, string> = {},
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', MCP_MAIN],
    env: {
      ...(process.env as Record<string, string>),
      ...system.nats.env(who),
      DIRECTORY_FILE: system.directoryFile,
      MCP_WAIT: '20s',
      DASHBOARD_URL: 'https://countersign.example.test',
      ...extra,
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(transport);
  afterAll(() => client.close());
  return { client, stderr: () => stderr };
}

/** tools/call with a wait long enough for a person to decide (the SDK's default is 60 s). */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  key?: string,
): Promise<CallToolResult> {
  return (await client.callTool(
    { name, arguments: args, ...(key ? { _meta: { 'countersign/idempotency_key': key } } : {}) },
    undefined,
    { timeout: 120_000 },
  )) as CallToolResult;
}

export function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

export interface Upstream {
  url: string;
  /** How many times each tool ran. */
  runs: Map<string, number>;
  ran(tool: string): number;
  stop(): Promise<void>;
}

/**
 * A real MCP server with tools the policy treats differently, each counting its runs: a
 * read-only status, a delete, a money transfer and a deploy.
 */
export async function startUpstream(): Promise<Upstream> {
  const runs = new Map<string, number>();
  const count = (tool: string, text: string): CallToolResult => {
    runs.set(tool, (runs.get(tool) ?? 0) + 1);
    return { content: [{ type: 'text', text }] };
  };
  const build = () => {
    const server = new McpServer({ name: 'files', version: '1.0.0' });
    server.registerTool(
      'read_status',
      {
        description: 'Reads the status of the file store',
        inputSchema: { path: z.string() },
        annotations: { readOnlyHint: true },
      },
      async ({ path }) => count('read_status', `status of ${path}: ok`),
    );
    server.registerTool(
      'delete_file',
      {
        description: 'Deletes a file',
        inputSchema: { path: z.string() },
        annotations: { destructiveHint: true, idempotentHint: true },
      },
      async ({ path }) => count('delete_file', `deleted ${path}`),
    );
    server.registerTool(
      'send_money',
      {
        description: 'Sends money',
        inputSchema: { amount: z.number(), to: z.string() },
        annotations: { destructiveHint: false, idempotentHint: false },
      },
      async ({ amount, to }) => count('send_money', `sent ${amount} to ${to}`),
    );
    server.registerTool(
      'deploy_app',
      { description: 'Deploys the app', inputSchema: { version: z.string() } },
      async ({ version }) => count('deploy_app', `deployed ${version}`),
    );
    return server;
  };
  const http: Server = createServer(async (req, res) => {
    const server = build();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const upstream: Upstream = {
    url: `http://127.0.0.1:${port}/mcp`,
    runs,
    ran: (tool) => runs.get(tool) ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
  afterAll(() => upstream.stop());
  return upstream;
}
