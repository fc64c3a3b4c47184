/**
 * The MCP server over stdio, started by the MCP SDK's own client as a local agent would: with the
 * agent's own NATS credentials, which are the only proof of who it is.
 */

import { join } from 'node:path';
import { CountersignClient } from '@countersign/client';
import type { Approval } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { callTool, startMcpSystem, stdioClient, textOf } from './support.js';

const system = await startMcpSystem('mcp_stdio');
const agent = await stdioClient(system, 'agent-a', { MCP_UPSTREAM_URL: system.upstream.url });
const bobNc = await system.nats.connect('bob');
const bob = new CountersignClient(bobNc, { identity: 'bob' });
const opsNc = await system.nats.connect('ops');
const ops = new CountersignClient(opsNc);

describe('a local agent over stdio', () => {
  it('requests as the identity its NATS credentials prove, and logs only to stderr', async () => {
    const result = await callTool(agent.client, 'request_approval', {
      action_type: 'send_report',
      description: 'Weekly report',
    });
    expect(result.structuredContent).toMatchObject({ state: 'approved', decided_by: 'policy' });
    const { action_id } = result.structuredContent as { action_id: string };
    expect((await ops.get(action_id)).requested_by).toBe('agent-a');
    // The protocol works, so stdout carried only MCP; the ready line went to stderr.
    expect(agent.stderr()).toContain('"msg":"ready"');
  });

  it('cannot act as another agent: nats-server refuses what its credentials do not prove', async () => {
    const impostor = await stdioClient(system, 'agent-a', { MCP_IDENTITY: 'agent-b', LOG_LEVEL: 'silent' });
    const result = await callTool(impostor.client, 'request_approval', {
      action_type: 'send_report',
      description: 'as agent-b',
      idempotency_key: 'impostor-1',
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/Permissions Violation|timeout|unavailable/i);
    const { items } = await ops.list({ requested_by: 'agent-b' });
    expect(items).toEqual([]);
  });

  it('passes an auto-approved upstream call through', async () => {
    const result = await callTool(agent.client, 'read_status', { path: '/home' });
    expect(textOf(result)).toBe('status of /home: ok');
    expect(result._meta?.['countersign/approval']).toMatchObject({
      status: 'approved',
      requested_by: 'agent-a',
    });
  });

  it('waits while a person decides, then forwards exactly once', async () => {
    const call = callTool(agent.client, 'delete_file', { path: '/home/tmp' }, 'stdio-delete-1');
    const pending = await waitUntil(
      async () =>
        (await ops.list({ status: 'pending', requested_by: 'agent-a', action_type: 'mcp.delete_file' }))
          .items[0] as Approval | undefined,
    );
    await bob.decide({ action_id: pending.action_id, approved: true });
    const result = await call;
    expect(textOf(result)).toBe('deleted /home/tmp');
    expect(system.upstream.ran('delete_file')).toBe(1);
  });

  it('proxies an upstream started over stdio (MCP_UPSTREAM_COMMAND)', async () => {
    const upstream = JSON.stringify([
      process.execPath,
      '--import',
      'tsx',
      join(import.meta.dirname, 'fixtures/stdio-upstream.ts'),
    ]);
    const gateway = await stdioClient(system, 'agent-b', { MCP_UPSTREAM_COMMAND: upstream });
    const names = (await gateway.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('read_counter');
    expect(textOf(await callTool(gateway.client, 'read_counter', { label: 'a' }))).toBe('a: run 1');
    const second = await callTool(gateway.client, 'read_counter', { label: 'b' });
    expect(textOf(second)).toBe('b: run 2');
    expect(second._meta?.['countersign/approval']).toMatchObject({
      requested_by: 'agent-b',
      status: 'approved',
    });
  });
});
