/**
 * The upstream MCP server a gateway proxies: reached over Streamable HTTP (MCP_UPSTREAM_URL) or
 * started as a child process over stdio (MCP_UPSTREAM_COMMAND), with the MCP SDK's own client.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

export type UpstreamSettings = { url: string } | { command: string[] };

export interface Upstream {
  client: Client;
  /** The upstream server's name, as it introduced itself (the policy reads it). */
  name: string;
  close(): Promise<void>;
}

export async function connectUpstream(settings: UpstreamSettings): Promise<Upstream> {
  let transport: Transport;
  if ('url' in settings) {
    transport = new StreamableHTTPClientTransport(new URL(settings.url));
  } else {
    const [command, ...args] = settings.command as [string, ...string[]];
    // stderr passes through to ours: the upstream's logs end up next to the gateway's.
    transport = new StdioClientTransport({ command, args, stderr: 'inherit' });
  }
  const client = new Client({ name: 'countersign-gateway', version: '0.1.0' });
  await client.connect(transport);
  return {
    client,
    name: client.getServerVersion()?.name ?? 'upstream',
    close: () => client.close(),
  };
}
