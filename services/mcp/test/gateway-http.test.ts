/**
 * The gateway over Streamable HTTP with the MCP SDK's own client, in front of a real upstream MCP
 * server, with the real policy and approval services. Agents authenticate with bearer tokens;
 * the gateway's NATS user may publish only for the agents the directory says it acts for.
 */
import { CountersignClient } from '@countersign/client';
import type { Approval } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { callTool, httpClient, spawnHttpGateway, startMcpSystem, TOKENS, textOf } from './support.js';

const system = await startMcpSystem('mcp_http');
const gateway = await spawnHttpGateway(system, { MCP_TOOL_WAIT: 'deploy_app=0' });
const agentA = await httpClient(gateway.url(), TOKENS['agent-a']);
const agentB = await httpClient(gateway.url(), TOKENS['agent-b']);

// People decide over NATS, each with their own credentials.
const bobNc = await system.nats.connect('bob');
const bob = new CountersignClient(bobNc, { identity: 'bob' });
const opsNc = await system.nats.connect('ops');
const ops = new CountersignClient(opsNc);

let n = 0;
const key = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++n}`;

/** Resolves with the pending approval of the agent's latest call of an MCP tool. */
async function pendingCall(requester: string, tool: string): Promise<Approval> {
  return waitUntil(
    async () => {
      const { items } = await ops.list({
        status: 'pending',
        requested_by: requester,
        action_type: `mcp.${tool}`,
      });
      return items[0];
    },
    { timeout: 20_000 },
  );
}

const approvalOf = (result: { _meta?: Record<string, unknown> }) =>
  result._meta?.['countersign/approval'] as Approval | undefined;

describe('authentication', () => {
  it('refuses a request without a bearer token (401) and with an unknown one', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const none = await fetch(gateway.url(), { method: 'POST', headers, body });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(gateway.url(), {
      method: 'POST',
      headers: { ...headers, authorization: 'Bearer not-a-token-of-anyone-at-all' },
      body,
    });
    expect(wrong.status).toBe(401);
    await expect(httpClient(gateway.url())).rejects.toThrow();
  });

  it('refuses to start with a token for an agent the directory does not let it act for', async () => {
    await expect(
      spawnHttpGateway(system, { MCP_API_TOKENS: 'token-of-agent-c-0123456789:agent-c' }),
    ).rejects.toThrow(/MCP_API_TOKENS: agent-c must be listed in acts_for of mcp-gateway/);
  });

  it('lists the upstream tools with their annotations, next to Countersign tools', async () => {
    const { tools } = await agentA.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'read_status',
        'delete_file',
        'send_money',
        'request_approval',
        'wait_for_decision',
      ]),
    );
    expect(tools.find((t) => t.name === 'read_status')?.annotations).toMatchObject({ readOnlyHint: true });
  });

  it('has no tool argument that names the requester: the token does', async () => {
    const result = await callTool(agentA, 'request_approval', {
      action_type: 'send_report',
      description: 'as someone else',
      requested_by: 'agent-b',
    });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ error: { code: 'invalid_request' } });
    const mine = await callTool(agentA, 'request_approval', {
      action_type: 'send_report',
      description: 'mine',
    });
    expect(mine.structuredContent).toMatchObject({ state: 'approved' });
    const stored = await ops.get((mine.structuredContent as { action_id: string }).action_id);
    expect(stored.requested_by).toBe('agent-a');
  });
});

describe('gated tool calls', () => {
  it('passes an auto-approved call through, with its approval in the metadata', async () => {
    const before = system.upstream.ran('read_status');
    const result = await callTool(agentA, 'read_status', { path: '/srv' });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('status of /srv: ok');
    expect(approvalOf(result)).toMatchObject({
      status: 'approved',
      decided_by: 'policy',
      requested_by: 'agent-a',
    });
    expect(system.upstream.ran('read_status')).toBe(before + 1);
  });

  it('answers a denied call with a tool error carrying the policy reasons, and never runs it', async () => {
    const result = await callTool(agentA, 'send_money', { amount: 5_000_000, to: 'mallory' });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ state: 'rejected', decided_by: 'policy' });
    const codes = (result.structuredContent as { policy_reasons: { code: string }[] }).policy_reasons.map(
      (r) => r.code,
    );
    expect(codes).toContain('amount_limit_exceeded');
    expect(system.upstream.ran('send_money')).toBe(0);
  });

  it('waits while a person decides over NATS, then forwards exactly once', async () => {
    const k = key('delete');
    const call = callTool(agentA, 'delete_file', { path: '/srv/old.log' }, k);
    const pending = await pendingCall('agent-a', 'delete_file');
    expect(pending.policy.approver_roles).toContain('ops');
    expect(system.upstream.ran('delete_file')).toBe(0);
    await bob.decide({ action_id: pending.action_id, approved: true, reason: 'old log' });
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('deleted /srv/old.log');
    expect(approvalOf(result)).toMatchObject({ status: 'approved', decided_by: 'bob' });
    expect(system.upstream.ran('delete_file')).toBe(1);

    // A retry of the same call (same key) does not run it again.
    const retry = await callTool(agentA, 'delete_file', { path: '/srv/old.log' }, k);
    expect(textOf(retry)).toBe('deleted /srv/old.log');
    expect(system.upstream.ran('delete_file')).toBe(1);
    const history = (await ops.get(pending.action_id)).history.filter((e) => e.event === 'reported');
    expect(history).toHaveLength(1);
  });

  it('answers pending with the approval id and review URL, and completes when called again after approval', async () => {
    const k = key('deploy');
    const first = await callTool(agentA, 'deploy_app', { version: '1.2.3' }, k);
    expect(first.isError).toBe(true);
    const state = first.structuredContent as { state: string; action_id: string; review_url: string };
    expect(state.state).toBe('pending');
    expect(state.review_url).toBe(`https://countersign.example.test/dashboard/approvals/${state.action_id}`);
    expect(textOf(first)).toContain('pending');
    expect(system.upstream.ran('deploy_app')).toBe(0);

    await bob.decide({ action_id: state.action_id, approved: true });
    const waited = await callTool(agentA, 'wait_for_decision', {
      action_id: state.action_id,
      timeout_seconds: 10,
    });
    expect(waited.structuredContent).toMatchObject({ state: 'approved', decided_by: 'bob' });

    const second = await callTool(agentA, 'deploy_app', { version: '1.2.3' }, k);
    expect(textOf(second)).toBe('deployed 1.2.3');
    expect(approvalOf(second)?.action_id).toBe(state.action_id);
    expect(system.upstream.ran('deploy_app')).toBe(1);
  });

  it('reports a rejection as rejected, with the reason', async () => {
    const call = callTool(agentA, 'delete_file', { path: '/srv/keep.db' }, key('reject'));
    const pending = await pendingCall('agent-a', 'delete_file');
    await bob.decide({ action_id: pending.action_id, approved: false, reason: 'we still need it' });
    const result = await call;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ state: 'rejected', reason: 'we still need it' });
  });

  it('shows an agent its own approvals only', async () => {
    const mine = await callTool(agentA, 'request_approval', {
      action_type: 'delete_records',
      description: 'A only',
    });
    const { action_id } = mine.structuredContent as { action_id: string };
    for (const tool of ['get_approval', 'wait_for_decision']) {
      const peek = await callTool(agentB, tool, { action_id });
      expect(peek.isError, tool).toBe(true);
      expect(peek.structuredContent, tool).toMatchObject({ error: { code: 'not_found' } });
    }
    expect((await callTool(agentA, 'get_approval', { action_id })).structuredContent).toMatchObject({
      state: 'pending',
    });
  });

  it('keeps two agents apart: the same call is two approvals', async () => {
    const a = await callTool(agentA, 'read_status', { path: '/same' });
    const b = await callTool(agentB, 'read_status', { path: '/same' });
    expect(approvalOf(a)?.requested_by).toBe('agent-a');
    expect(approvalOf(b)?.requested_by).toBe('agent-b');
    expect(approvalOf(a)?.action_id).not.toBe(approvalOf(b)?.action_id);
  });
});

describe('paused tasks', () => {
  it('lets only the agent that paused a task resume it: agent A cannot resume agent B’s', async () => {
    const task = key('task');
    const paused = await callTool(agentB, 'pause_task', {
      task_id: task,
      reason: 'waiting for the nightly export',
    });
    expect(paused.structuredContent).toMatchObject({ state: 'pending', action_type: 'task_pause' });
    expect((await callTool(agentB, 'list_my_pending', {})).structuredContent).toMatchObject({
      approvals: expect.arrayContaining([expect.objectContaining({ action_id: task })]),
    });
    expect((await callTool(agentA, 'list_my_pending', {})).structuredContent).not.toMatchObject({
      approvals: expect.arrayContaining([expect.objectContaining({ action_id: task })]),
    });

    const hijack = await callTool(agentA, 'resume_task', { task_id: task, message: 'go on' });
    expect(hijack.isError).toBe(true);
    expect(hijack.structuredContent).toMatchObject({
      error: { code: 'forbidden', reasons: [expect.objectContaining({ code: 'not_owner' })] },
    });
    expect((await ops.get(task)).status).toBe('pending');

    const resumed = await callTool(agentB, 'resume_task', { task_id: task, message: 'export done' });
    expect(resumed.structuredContent).toMatchObject({
      state: 'approved',
      decided_by: 'agent-b',
      reason: 'export done',
    });
  });
});

describe('states', () => {
  it('reports an approval that expired undecided as expired, never as denied', async () => {
    const requested = await callTool(agentA, 'request_approval', {
      action_type: 'delete_records',
      description: 'Delete last year’s records',
      timeout_seconds: 1,
    });
    const { action_id, state } = requested.structuredContent as { action_id: string; state: string };
    expect(state).toBe('pending');
    const waited = await callTool(agentA, 'wait_for_decision', { action_id, timeout_seconds: 20 });
    expect(waited.structuredContent).toMatchObject({ state: 'expired', action_id });
    expect(textOf(waited)).toMatch(/expired .* without a decision/);
    expect(textOf(waited)).not.toMatch(/denied|rejected/);
  });

  it('reports a wait that ran out as pending, and the approval stays open', async () => {
    const requested = await callTool(agentA, 'request_approval', {
      action_type: 'delete_records',
      description: 'Delete old records',
    });
    const { action_id } = requested.structuredContent as { action_id: string };
    const waited = await callTool(agentA, 'wait_for_decision', { action_id, timeout_seconds: 0.3 });
    expect(waited.structuredContent).toMatchObject({ state: 'pending', action_id });
    expect((await ops.get(action_id)).status).toBe('pending');
  });

  it('reports a cancelled approval as cancelled', async () => {
    const requested = await callTool(agentA, 'request_approval', {
      action_type: 'delete_records',
      description: 'Delete more records',
    });
    const { action_id } = requested.structuredContent as { action_id: string };
    await ops.cancel({ action_id, cancelled_by: 'carol', reason: 'not needed' });
    const got = await callTool(agentA, 'get_approval', { action_id });
    expect(got.structuredContent).toMatchObject({ state: 'cancelled', reason: 'not needed' });
  });
});

describe('expiry of a gated call', () => {
  it('answers expired, never runs it, and does not run it when called again after the window', async () => {
    const short = await spawnHttpGateway(system, { MCP_APPROVAL_TIMEOUT: '1s', MCP_WAIT: '0' });
    const client = await httpClient(short.url(), TOKENS['agent-a']);
    const before = system.upstream.ran('deploy_app');
    const k = key('expire');
    const first = await callTool(client, 'deploy_app', { version: '9.9.9' }, k);
    const { action_id, state } = first.structuredContent as { action_id: string; state: string };
    expect(state).toBe('pending');
    const waited = await callTool(client, 'wait_for_decision', { action_id, timeout_seconds: 20 });
    expect(waited.structuredContent).toMatchObject({ state: 'expired' });
    const again = await callTool(client, 'deploy_app', { version: '9.9.9' }, k);
    expect(again.isError).toBe(true);
    expect(again.structuredContent).toMatchObject({ state: 'expired', action_id });
    expect(textOf(again)).toContain('expired');
    expect(system.upstream.ran('deploy_app')).toBe(before);
    await short.process.stop();
  });
});

describe('restarts', () => {
  it('does not forward twice when the gateway restarts while a call waits', async () => {
    const k = key('restart');
    const args = { path: '/srv/cache' };
    const before = system.upstream.ran('delete_file');
    // The call in flight is lost with the process (its client gives up later, or at close).
    void callTool(agentA, 'delete_file', args, k).catch(() => undefined);
    const pending = await pendingCall('agent-a', 'delete_file');
    await gateway.process.crash();

    await gateway.process.restart();
    const again = await httpClient(gateway.url(), TOKENS['agent-a']);
    const retried = callTool(again, 'delete_file', args, k);
    await waitUntil(async () => (await ops.get(pending.action_id)).status === 'pending');
    await bob.decide({ action_id: pending.action_id, approved: true });
    expect(textOf(await retried)).toBe('deleted /srv/cache');
    expect(system.upstream.ran('delete_file')).toBe(before + 1);

    // Another gateway process (or a later restart) asked for the same call claims nothing more.
    const other = await spawnHttpGateway(system);
    const elsewhere = await httpClient(other.url(), TOKENS['agent-a']);
    const third = await callTool(elsewhere, 'delete_file', args, k);
    expect(third.isError).toBe(true);
    expect(third.structuredContent).toMatchObject({ error: { code: 'already_forwarded' } });
    expect(system.upstream.ran('delete_file')).toBe(before + 1);
    const reports = (await ops.get(pending.action_id)).history.filter((e) => e.event === 'reported');
    expect(reports).toHaveLength(1);
  });
});
