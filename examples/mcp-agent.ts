/**
 * An agent built with the Vercel AI SDK whose tools come from Countersign's MCP server: gated
 * upstream tools and Countersign's own (request_approval, wait_for_decision, …). The model decides
 * what to call; Countersign decides whether the call runs. A call that needs a person waits in
 * the gateway (up to MCP_WAIT), and the tool result tells the model what happened: the tool's own
 * output, a policy denial with its reasons, or `pending` / `expired` as exactly that.
 *
 * Each tool call carries the model's toolCallId as its idempotency key, so a retried step lands
 * on the same approval and the gateway forwards it at most once.
 *
 * Run it against the run command with a real model by swapping `scriptedModel()` for a provider
 * model (`openai('gpt-4.1')` from `@ai-sdk/openai`, …). As shipped it drives the agent with the AI
 * SDK's own scripted test model, so it runs with no network and no API key: that is how
 * services/mcp/test/agent-example.test.ts runs it against the real services.
 *
 *   node --import tsx examples/mcp-agent.ts   # as ops-agent, through the gateway's stdio mode
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { dynamicTool, generateText, jsonSchema, type LanguageModel, stepCountIs, type ToolSet } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';

/** How long one tool call may wait for a person (the gateway's own bound applies too). */
const CALL_TIMEOUT_MS = 10 * 60_000;

/** The MCP server's tools as AI SDK tools; each call is made through Countersign. */
export async function countersignToolSet(mcp: Client): Promise<ToolSet> {
  const { tools } = await mcp.listTools();
  const set: ToolSet = {};
  for (const tool of tools) {
    set[tool.name] = dynamicTool({
      description: tool.description ?? tool.name,
      inputSchema: jsonSchema(tool.inputSchema as Parameters<typeof jsonSchema>[0]),
      execute: async (input, { toolCallId }) => {
        const result = (await mcp.callTool(
          {
            name: tool.name,
            arguments: input as Record<string, unknown>,
            _meta: { 'countersign/idempotency_key': toolCallId },
          },
          undefined,
          { timeout: CALL_TIMEOUT_MS },
        )) as CallToolResult;
        // What the model reads: the text, plus the state when Countersign answered instead.
        const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
        return {
          ok: !result.isError,
          text,
          ...(result.structuredContent ? { details: result.structuredContent } : {}),
        };
      },
    });
  }
  return set;
}

/** Runs the agent on one prompt with the MCP server's tools. */
export async function runAgent(mcp: Client, model: LanguageModel, prompt: string) {
  return generateText({ model, tools: await countersignToolSet(mcp), stopWhen: stepCountIs(4), prompt });
}

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 10, text: 10, reasoning: undefined },
};

/**
 * The AI SDK's scripted test model: first it calls `tool` with `input`, then it answers with the
 * text of the tool's result. No network, no key.
 */
export function scriptedModel(tool: string, input: Record<string, unknown>): MockLanguageModelV3 {
  let step = 0;
  return new MockLanguageModelV3({
    doGenerate: async (options) => {
      step += 1;
      if (step === 1) {
        return {
          content: [
            { type: 'tool-call', toolCallId: `call-${tool}-1`, toolName: tool, input: JSON.stringify(input) },
          ],
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage,
          warnings: [],
        };
      }
      const last = options.prompt.at(-1);
      const output =
        last?.role === 'tool' ? last.content.find((p) => p.type === 'tool-result')?.output : undefined;
      const text = output && output.type === 'json' ? JSON.stringify(output.value) : 'no tool result';
      return {
        content: [{ type: 'text', text: `Done. The tool said: ${text}` }],
        finishReason: { unified: 'stop', raw: 'stop' },
        usage,
        warnings: [],
      };
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // As ops-agent: its NATS credentials (NATS_USER/NATS_PASSWORD, or NATS_CREDS) are the identity.
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'services/mcp/src/main.ts'],
    env: {
      ...(process.env as Record<string, string>),
      MCP_IDENTITY: process.env.MCP_IDENTITY ?? 'ops-agent',
    },
    stderr: 'inherit',
  });
  const mcp = new Client({ name: 'mcp-agent-example', version: '1.0.0' });
  await mcp.connect(transport);
  const model = scriptedModel('request_approval', {
    action_type: 'delete_records',
    description: 'Delete last year’s session records',
  });
  const result = await runAgent(mcp, model, 'Clean up last year’s session records.');
  console.log(result.text);
  await mcp.close();
}
