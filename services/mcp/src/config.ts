import { CommonEnv, env, type parseApiTokens, parseDuration, runtimeSettings } from '@countersign/runtime';
import { z } from 'zod';

/** Longest a single tool call may hold the agent's request open waiting for a person. */
export const MAX_WAIT_MS = 15 * 60_000;

/**
 * `tool=duration` pairs, comma-separated: how long a gated call of that tool waits for a
 * decision before it answers `pending` (`0` answers pending at once).
 */
const ToolWaits = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const waits = new Map<string, number>();
    for (const entry of text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const eq = entry.lastIndexOf('=');
      const tool = entry.slice(0, eq).trim();
      let ms = Number.NaN;
      try {
        ms = eq > 0 ? parseDuration(entry.slice(eq + 1).trim()) : Number.NaN;
      } catch {}
      if (!tool || !Number.isFinite(ms) || ms < 0 || ms > MAX_WAIT_MS) {
        ctx.addIssue({ code: 'custom', message: `"${tool || entry}": expected <tool>=<duration> up to 15m` });
        return z.NEVER;
      }
      waits.set(tool, ms);
    }
    return waits;
  });

/** A command line as a JSON array of strings (no shell, so no quoting surprises). */
const Command = z
  .string()
  .transform((text, ctx) => {
    try {
      const argv = z.array(z.string().min(1)).min(1).parse(JSON.parse(text));
      return argv;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of strings, e.g. ["node","server.js"]' });
      return z.NEVER;
    }
  })
  .optional();

/** Environment variables of the MCP server, with their defaults. */
export const McpVariables = CommonEnv.extend({
  /**
   * `stdio` (default): one agent, the program runs with the agent's own NATS credentials and
   * speaks MCP on stdin/stdout (logs go to stderr). `http`: Streamable HTTP for hosted agents,
   * each authenticated by a bearer token of MCP_API_TOKENS.
   */
  MCP_TRANSPORT: z.enum(['stdio', 'http']).default('stdio'),
  /**
   * Over stdio, the directory identity the agent acts as; default: the identity whose NATS
   * user is NATS_USER. nats-server still decides: a name that is not the credential's is refused.
   */
  MCP_IDENTITY: z.string().min(1).optional(),
  /** Port of the HTTP transport (0 = any free port). */
  MCP_HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  /** Interface to listen on: loopback by default; set 0.0.0.0 in a container. */
  MCP_HTTP_HOST: env.string('127.0.0.1'),
  /**
   * `<token>:<identity>` or `sha256:<hex>:<identity>` entries, comma-separated (the approval
   * service's API_TOKENS format). Required over HTTP: every agent is authenticated. Each identity
   * must be a requesting system listed in the `acts_for` of this program's directory entry.
   */
  MCP_API_TOKENS: env.apiTokens(),
  /** Gateway mode: the upstream MCP server's Streamable HTTP URL. */
  MCP_UPSTREAM_URL: z.url().optional(),
  /** Gateway mode: the upstream MCP server's command over stdio, a JSON array (`["node","srv.js"]`). */
  MCP_UPSTREAM_COMMAND: Command,
  /** How long a gated call waits for a decision before it answers `pending` (0 = at once). */
  MCP_WAIT: env.duration('30s', { max: MAX_WAIT_MS }),
  /** Per-tool MCP_WAIT: `deploy=5m,transfer=0`. */
  MCP_TOOL_WAIT: ToolWaits,
  /**
   * How long a gated call's approval stays open (its timeout_seconds, whole seconds); `0`: the
   * policy's window for the action. After it, the call is `expired` and never runs.
   */
  MCP_APPROVAL_TIMEOUT: env.duration('0s', { max: 7 * 86_400_000 }),
  /** The longest wait_for_decision may be asked to wait. */
  MCP_MAX_WAIT: env.duration('5m', { min: 1000, max: MAX_WAIT_MS }),
  /** The dashboard's base URL (the approval service's PUBLIC_URL): review URLs are built on it. */
  DASHBOARD_URL: z.url().optional(),
});

type Variables = z.output<typeof McpVariables>;

export interface McpSettings {
  transport: 'stdio' | 'http';
  identity: string | undefined;
  natsUser: string | undefined;
  http: { port: number; host: string; tokens: ReturnType<typeof parseApiTokens> };
  upstream: { url: string } | { command: string[] } | undefined;
  waitMs: number;
  toolWaits: ReadonlyMap<string, number>;
  /** timeout_seconds of gated calls' approvals; undefined: the policy's. */
  approvalTimeoutSeconds: number | undefined;
  maxWaitMs: number;
  dashboardUrl: string | undefined;
}

const mcpSettings = (v: Variables): McpSettings => ({
  transport: v.MCP_TRANSPORT,
  identity: v.MCP_IDENTITY,
  natsUser: v.NATS_USER,
  http: { port: v.MCP_HTTP_PORT, host: v.MCP_HTTP_HOST, tokens: v.MCP_API_TOKENS },
  upstream: v.MCP_UPSTREAM_URL
    ? { url: v.MCP_UPSTREAM_URL }
    : v.MCP_UPSTREAM_COMMAND
      ? { command: v.MCP_UPSTREAM_COMMAND }
      : undefined,
  waitMs: v.MCP_WAIT,
  toolWaits: v.MCP_TOOL_WAIT,
  approvalTimeoutSeconds:
    v.MCP_APPROVAL_TIMEOUT > 0 ? Math.max(1, Math.ceil(v.MCP_APPROVAL_TIMEOUT / 1000)) : undefined,
  maxWaitMs: v.MCP_MAX_WAIT,
  dashboardUrl: v.DASHBOARD_URL,
});

/** The MCP server's settings: cross-variable rules are checked here, naming the variable. */
export const McpEnv = McpVariables.superRefine((v, ctx) => {
  if (v.MCP_TRANSPORT === 'http' && v.MCP_API_TOKENS.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['MCP_API_TOKENS'],
      message: 'is required with MCP_TRANSPORT=http: every agent authenticates with a bearer token',
    });
  }
  if (v.MCP_UPSTREAM_URL && v.MCP_UPSTREAM_COMMAND) {
    ctx.addIssue({
      code: 'custom',
      path: ['MCP_UPSTREAM_COMMAND'],
      message: 'set MCP_UPSTREAM_URL or MCP_UPSTREAM_COMMAND, not both',
    });
  }
}).transform((v) => ({ runtime: runtimeSettings(v), mcp: mcpSettings(v) }));
export type McpConfig = z.output<typeof McpEnv>;
