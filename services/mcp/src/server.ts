/**
 * One MCP server for one authenticated agent: Countersign's tools, plus the upstream's tools in
 * gateway mode. Built per agent (once over stdio, per request over HTTP), so the identity every
 * handler acts as is fixed before any message is read.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Gateway } from './gateway.js';
import { errorResult } from './results.js';
import {
  type Agent,
  callCountersignTool,
  countersignTools,
  isCountersignTool,
  type ToolSettings,
} from './tools.js';

export const SERVER_INFO = { name: 'countersign', version: '0.1.0' };

export function buildServer(agent: Agent, settings: ToolSettings, gateway: Gateway | undefined): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions:
      'Countersign puts sensitive actions behind ops policy and the right people. You act as yourself: ' +
      'every request names you as the requester. A tool call answered "pending" did not run: wait with ' +
      'wait_for_decision, then call it again with the same arguments and idempotency key.',
  });
  const own = countersignTools(settings);
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [...own, ...(gateway ? await gateway.listTools() : [])],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args, _meta } = request.params;
    if (isCountersignTool(name))
      return callCountersignTool(name, args, { agent, settings, signal: extra.signal });
    if (gateway && (await gateway.has(name))) {
      return gateway.call({ agent, name, args: args ?? {}, meta: _meta, signal: extra.signal });
    }
    return errorResult('not_found', `no tool ${name}`);
  });
  return server;
}
