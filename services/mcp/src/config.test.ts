import { ConfigError, loadConfig } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { McpEnv } from './config.js';

const base = { DIRECTORY_FILE: '/dev/null', NATS_AUTH: 'off' };

function issues(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    loadConfig(McpEnv, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('the configuration loaded');
}

describe('McpEnv', () => {
  it('defaults to stdio with a bounded wait', () => {
    const { mcp } = loadConfig(McpEnv, base);
    expect(mcp).toMatchObject({ transport: 'stdio', waitMs: 30_000, upstream: undefined });
  });

  it('requires tokens over HTTP: no agent is served unauthenticated', () => {
    expect(issues({ ...base, MCP_TRANSPORT: 'http' })).toEqual([
      expect.objectContaining({ variable: 'MCP_API_TOKENS' }),
    ]);
  });

  it('reads per-tool waits and an upstream command, naming the variable when wrong', () => {
    const { mcp } = loadConfig(McpEnv, {
      ...base,
      MCP_TOOL_WAIT: 'deploy=5m, transfer=0',
      MCP_UPSTREAM_COMMAND: '["node","server.js"]',
    });
    expect([...mcp.toolWaits]).toEqual([
      ['deploy', 300_000],
      ['transfer', 0],
    ]);
    expect(mcp.upstream).toEqual({ command: ['node', 'server.js'] });
    expect(issues({ ...base, MCP_TOOL_WAIT: 'deploy=forever' })).toEqual([
      expect.objectContaining({ variable: 'MCP_TOOL_WAIT' }),
    ]);
    expect(issues({ ...base, MCP_UPSTREAM_COMMAND: 'node server.js' })).toEqual([
      expect.objectContaining({ variable: 'MCP_UPSTREAM_COMMAND' }),
    ]);
    expect(
      issues({ ...base, MCP_UPSTREAM_URL: 'http://127.0.0.1:1/mcp', MCP_UPSTREAM_COMMAND: '["x"]' }),
    ).toEqual([expect.objectContaining({ variable: 'MCP_UPSTREAM_COMMAND' })]);
  });
});
