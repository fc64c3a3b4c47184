/**
 * examples/mcp-agent.ts as a test: a Vercel AI SDK agent, driven by the SDK's own scripted test
 * model, whose tool call goes through Countersign's MCP gateway (stdio) to a real upstream server
 * while a person approves it over NATS.
 */
import { CountersignClient } from '@countersign/client';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { runAgent, scriptedModel } from '../../../examples/mcp-agent.js';
import { startMcpSystem, stdioClient } from './support.js';

const system = await startMcpSystem('mcp_agent');
const agent = await stdioClient(system, 'agent-a', { MCP_UPSTREAM_URL: system.upstream.url });
const bob = new CountersignClient(await system.nats.connect('bob'), { identity: 'bob' });
const ops = new CountersignClient(await system.nats.connect('ops'));

describe('examples/mcp-agent.ts', () => {
  it('runs an approved tool call once, and the model reads its result', async () => {
    const run = runAgent(
      agent.client,
      scriptedModel('delete_file', { path: '/var/old-sessions' }),
      'Delete the old sessions',
    );
    const pending = await waitUntil(
      async () => (await ops.list({ status: 'pending', action_type: 'mcp.delete_file' })).items[0],
      { timeout: 20_000 },
    );
    expect(pending.requested_by).toBe('agent-a');
    await bob.decide({ action_id: pending.action_id, approved: true, reason: 'old sessions' });
    const result = await run;
    expect(result.text).toContain('deleted /var/old-sessions');
    expect(system.upstream.ran('delete_file')).toBe(1);
  });

  it('tells the model about a policy denial, and the tool never runs', async () => {
    const result = await runAgent(
      agent.client,
      scriptedModel('send_money', { amount: 5_000_000, to: 'mallory' }),
      'Send the money',
    );
    expect(result.text).toContain('rejected');
    expect(result.text).toContain('amount_limit_exceeded');
    expect(system.upstream.ran('send_money')).toBe(0);
  });
});
