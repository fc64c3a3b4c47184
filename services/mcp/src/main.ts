/**
 * The MCP server process. Over stdio it speaks MCP on stdout, so every log line goes to stderr;
 * over HTTP it logs to stdout like the other services. The runtime's scaffold reads the
 * configuration, connects NATS as this process's user, and logs `ready`.
 */
import { inboxPrefixOf } from '@countersign/contracts';
import { runService } from '@countersign/runtime';
import { McpEnv } from './config.js';
import { mcpIdentity, startMcpService } from './service.js';

await runService({
  name: 'mcp',
  env: McpEnv,
  logDestination: process.env.MCP_TRANSPORT === 'http' ? undefined : process.stderr,
  // It connects as a directory identity (the agent's, or the gateway's), whose NATS user reads
  // replies only on its own inbox prefix.
  inboxPrefix: (settings, directory) => inboxPrefixOf(mcpIdentity(settings.mcp, directory)),
  async start({ settings, nc, logger, directory }) {
    const service = await startMcpService(settings.mcp, {
      nc,
      directory,
      logger,
      // The agent closed stdin: stop in order, as on SIGTERM.
      onClosed: () => process.kill(process.pid, 'SIGTERM'),
    });
    return service;
  },
});
