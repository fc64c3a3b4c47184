/**
 * Streamable HTTP for hosted agents, authenticated on every request: `Authorization: Bearer
 * <token>` (MCP_API_TOKENS, the approval service's token format) names the agent; the directory in
 * force must list it, and list it in this gateway's `acts_for`, at the time of the request, so
 * removing either locks the agent out without a restart. Stateless: each POST gets its own MCP
 * server bound to the authenticated agent, so no session id can carry one agent's identity into
 * another's request.
 */
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { CountersignError } from '@countersign/contracts';
import type { DirectoryHolder, Logger, TokenStore } from '@countersign/runtime';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Agent } from './tools.js';

export interface HttpOptions {
  host: string;
  port: number;
  tokens: TokenStore;
  directory: DirectoryHolder;
  /** The directory identity of this gateway (its NATS user's entry). */
  gateway: string;
  agentOf(identity: string): Agent;
  serve(agent: Agent, req: IncomingMessage, res: ServerResponse): Promise<void>;
  logger: Logger;
}

export interface McpHttpServer {
  url: string;
  stop(): Promise<void>;
}

/** The agent a request's bearer token proves, or the error to answer (401 / 403). */
export function authenticate(
  req: IncomingMessage,
  options: Pick<HttpOptions, 'tokens' | 'directory' | 'gateway'>,
): { identity: string } | { error: CountersignError } {
  const match = req.headers.authorization ? /^Bearer +(\S+) *$/i.exec(req.headers.authorization) : null;
  const found = match ? options.tokens.identify(match[1] as string) : undefined;
  if (!found) {
    return {
      error: new CountersignError(
        'forbidden',
        match
          ? 'the bearer token is not valid'
          : 'authentication required: send Authorization: Bearer <token>',
        { status: 401, reasons: [{ code: 'authentication_required', message: 'no valid bearer token' }] },
      ),
    };
  }
  const directory = options.directory.current();
  const reason = !directory.get(found.identity)
    ? { code: 'unknown_identity', message: `${found.identity} is not in the directory` }
    : !directory.actsFor(options.gateway, found.identity)
      ? { code: 'not_served', message: `${options.gateway} does not act for ${found.identity} (acts_for)` }
      : undefined;
  if (reason) return { error: new CountersignError('forbidden', reason.message, { reasons: [reason] }) };
  return { identity: found.identity };
}

function refuse(res: ServerResponse, error: CountersignError): void {
  const status = error.details?.status === 401 ? 401 : 403;
  const { status: _status, ...details } = error.details ?? {};
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(status === 401 ? { 'www-authenticate': 'Bearer realm="countersign-mcp"' } : {}),
  });
  // A JSON-RPC error, as MCP clients expect, carrying the contract's error.
  res.end(
    JSON.stringify({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32001, message: error.message, data: { code: error.code, ...details } },
    }),
  );
}

export async function startHttp(options: HttpOptions): Promise<McpHttpServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path !== '/mcp') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: MCP is served at /mcp');
      return;
    }
    const who = authenticate(req, options);
    if ('error' in who) {
      options.logger.info({ reason: who.error.details?.reasons }, 'refused an MCP request');
      return refuse(res, who.error);
    }
    await options.serve(options.agentOf(who.identity), req, res);
  };
  const server: HttpServer = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger.error({ err }, 'MCP HTTP request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/mcp`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Serves one HTTP request with a fresh stateless transport. */
export async function serveStateless(
  connect: (transport: StreamableHTTPServerTransport) => Promise<{ close(): Promise<void> }>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  const server = await connect(transport);
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await transport.handleRequest(req, res);
}
