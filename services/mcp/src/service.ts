/**
 * Starts the MCP server on its transport, for its agent(s), in front of its upstream if any.
 */
import { CountersignClient } from '@countersign/client';
import { canonicalIdentity } from '@countersign/contracts';
import type { Directory, DirectoryHolder, Logger, Stoppable } from '@countersign/runtime';
import { TokenStore } from '@countersign/runtime';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { NatsConnection } from '@nats-io/nats-core';
import type { McpSettings } from './config.js';
import { Gateway } from './gateway.js';
import { serveStateless, startHttp } from './http.js';
import { buildServer } from './server.js';
import { type Agent, countersignTools } from './tools.js';
import { connectUpstream, type Upstream } from './upstream.js';

/** A start-up problem that names the variable or directory entry to fix. */
export class McpStartError extends Error {}

export interface McpService {
  stop: Stoppable[];
  ready: Record<string, unknown>;
}

export interface McpDeps {
  nc: NatsConnection;
  directory: DirectoryHolder;
  logger: Logger;
  /** Called when the stdio client hangs up: the process should stop. */
  onClosed(): void;
}

/** The identity the NATS credential of this process proves in the directory. */
export function mcpIdentity(settings: McpSettings, directory: Directory): string {
  if (settings.identity !== undefined) {
    const canonical = canonicalIdentity(settings.identity);
    if (!canonical.ok) throw new McpStartError(`MCP_IDENTITY ${canonical.message}`);
    if (!directory.get(canonical.identity)) {
      throw new McpStartError(`MCP_IDENTITY: ${canonical.identity} is not in the directory`);
    }
    return canonical.identity;
  }
  const principal = settings.natsUser ? directory.identityOfNatsUser(settings.natsUser) : undefined;
  if (!principal) {
    throw new McpStartError(
      "no identity: set NATS_USER to a directory identity's NATS user, or MCP_IDENTITY to the identity its credentials prove",
    );
  }
  return principal.id;
}

export async function startMcpService(settings: McpSettings, deps: McpDeps): Promise<McpService> {
  const { nc, directory, logger } = deps;
  const identity = mcpIdentity(settings, directory.current());
  const toolSettings = { dashboardUrl: settings.dashboardUrl, maxWaitMs: settings.maxWaitMs };
  const clients = new Map<string, Agent>();
  /** One client per agent identity (each holds a reconnect watcher): reused across requests. */
  const agentOf = (id: string): Agent => {
    let agent = clients.get(id);
    if (!agent) {
      agent = { identity: id, client: new CountersignClient(nc, { identity: id, logger, timeout: 10_000 }) };
      clients.set(id, agent);
    }
    return agent;
  };

  let upstream: Upstream | undefined;
  let gateway: Gateway | undefined;
  if (settings.upstream) {
    upstream = await connectUpstream(settings.upstream);
    const reserved = new Set(countersignTools(toolSettings).map((t) => t.name));
    gateway = new Gateway(upstream, settings, logger, reserved);
    await gateway.listTools();
  }
  const stopUpstream: Stoppable = { stop: async () => upstream?.close() };

  if (settings.transport === 'stdio') {
    const server = buildServer(agentOf(identity), toolSettings, gateway);
    const transport = new StdioServerTransport();
    transport.onclose = () => deps.onClosed();
    // The agent ends the session by closing our stdin (MCP stdio transport); the SDK's transport
    // does not watch for that, and a server left running would hold its NATS connection for ever.
    process.stdin.once('end', () => deps.onClosed());
    await server.connect(transport);
    return {
      stop: [{ stop: () => server.close() }, stopUpstream],
      ready: { transport: 'stdio', identity, gateway: upstream?.name ?? null },
    };
  }

  // HTTP: this process is a directory service that acts for the agents of its tokens.
  const tokens = new TokenStore(settings.http.tokens);
  const unserved = [...new Set(settings.http.tokens.map((t) => t.identity))].filter(
    (agent) => !directory.current().actsFor(identity, agent),
  );
  if (unserved.length > 0) {
    throw new McpStartError(
      `MCP_API_TOKENS: ${unserved.join(', ')} must be listed in acts_for of ${identity}'s directory entry (it publishes for them)`,
    );
  }
  const http = await startHttp({
    host: settings.http.host,
    port: settings.http.port,
    tokens,
    directory,
    gateway: identity,
    agentOf,
    logger,
    serve: (agent, req, res) =>
      serveStateless(
        async (transport) => {
          const server = buildServer(agent, toolSettings, gateway);
          await server.connect(transport);
          return server;
        },
        req,
        res,
      ),
  });
  return {
    stop: [http, stopUpstream],
    ready: {
      transport: 'http',
      url: http.url,
      identity,
      agents: tokens.size,
      gateway: upstream?.name ?? null,
    },
  };
}
