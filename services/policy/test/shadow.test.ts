/**
 * Shadow mode on the real policy service process: a candidate published as shadow is evaluated
 * beside the live policy, never changes an answer, and every disagreement is logged with both
 * revisions and counted in Prometheus; `pnpm policy drop` and `promote --direct` end it.
 */
import { callEndpoint } from '@countersign/client';
import type { ApprovalRequestInput } from '@countersign/contracts';
import { spawnService, TEST_DIRECTORY_FILE, useTestNats, waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { readBundle } from '../src/bundle.js';
import { buildBytes, copyOfPolicies, policyCli, setThreshold } from './support.js';

const nats = await useTestNats();
const policy = await spawnService('policy', {
  // promote --direct writes the live bundle, which only a replica not requiring approval loads
  // (promoting through an approval: publish-approval.test.ts).
  env: {
    NATS_URL: nats.url,
    POLICY_METRICS_PORT: '0',
    POLICY_DECISION_LOG: 'opa',
    POLICY_REQUIRE_APPROVAL: 'false',
  },
});
const nc = await nats.connect();
afterAll(() => nc.drain());
const cliEnv = { ...nats.env('ops'), DIRECTORY_FILE: TEST_DIRECTORY_FILE };

const logs = () => policy.logs().map((l) => JSON.parse(l) as Record<string, unknown>);
const metricsUrl = logs().find((l) => l.msg === 'ready')?.metrics_url as string;
const payment = (action_id: string, amount: number): ApprovalRequestInput => ({
  action_id,
  action_type: 'payment',
  description: `Pay ${amount}`,
  requested_by: 'billing-job',
  context: { amount },
});
const evaluate = (id: string, amount: number) => callEndpoint(nc, 'evaluate', payment(id, amount));

/** A metric's value from /metrics, summed over the series whose labels include `labels`. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

// The candidate: payments need approval from 2,000 instead of 500.
const candidateDir = copyOfPolicies();
setThreshold(candidateDir, 'payment_amount', 2000);
const candidateRevision = readBundle(await buildBytes(candidateDir)).revision;
const liveRevision = (await callEndpoint(nc, 'policyInfo', {})).revision;

describe('decision logs in OPA format (POLICY_DECISION_LOG=opa)', () => {
  it('writes each decision as an OPA decision-log event naming the decision, input, result and revision', async () => {
    const answer = await evaluate('opa-log-1', 1500);
    const event = await waitUntil(() =>
      logs().find((l) => l.msg === 'Decision Log' && l.decision_id === answer.decision_id),
    );
    expect(event).toMatchObject({
      type: 'openpolicyagent.org/decision_logs',
      path: 'countersign/decision/result',
      input: { action_id: 'opa-log-1', context: { amount: 1500 }, now: expect.any(String) },
      result: { outcome: 'needs_approval', approver_roles: ['finance'] },
      bundles: { countersign: { revision: liveRevision } },
      labels: { app: 'countersign-policy' },
      timestamp: expect.any(String),
      metrics: { timer_server_handler_ns: expect.any(Number) },
    });
  });
});

describe('shadow mode', () => {
  it('never affects an outcome, and logs and counts every disagreement with both revisions', async () => {
    const run = await policyCli(['shadow', '--dir', candidateDir], cliEnv);
    expect(run.stdout).toContain(`shadowing ${candidateRevision}`);
    await waitUntil(() => logs().some((l) => String(l.msg).startsWith('shadow policy loaded')), {
      message: 'the shadow to load',
    });

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await evaluate(`s-1500-${i}`, 1500));
    answers.push(await evaluate('s-100', 100));
    answers.push(await evaluate('s-2500', 2500));
    // The live policy's answers, exactly: 1,500 still needs finance although the shadow would not ask.
    for (const a of answers) expect(a.revision).toBe(liveRevision);
    expect(answers.slice(0, 3).map((a) => a.outcome)).toEqual([
      'needs_approval',
      'needs_approval',
      'needs_approval',
    ]);
    expect(answers[3]?.outcome).toBe('auto_approve');

    const labels = { revision: liveRevision, shadow_revision: candidateRevision };
    expect(await metric('countersign_policy_shadow_evaluations_total', labels)).toBe(5);
    expect(
      await metric('countersign_policy_shadow_disagreements_total', { ...labels, kind: 'decision' }),
    ).toBe(3);
    const disagreements = logs().filter((l) => l.msg === 'shadow policy disagrees');
    expect(disagreements.map((l) => l.action_id)).toEqual(['s-1500-0', 's-1500-1', 's-1500-2']);
    expect(disagreements[0]).toMatchObject({
      revision: liveRevision,
      shadow_revision: candidateRevision,
      changed: ['outcome', 'approver_roles'],
      live: { outcome: 'needs_approval' },
      shadow: { outcome: 'auto_approve' },
    });
  });

  it('pnpm policy drop ends the shadow: nothing is evaluated beside the live policy any more', async () => {
    const run = await policyCli(['drop'], cliEnv);
    expect(run.code).toBe(0);
    await waitUntil(() => logs().some((l) => l.msg === 'shadow policy ended'), {
      message: 'the shadow to end',
    });
    const before = await metric('countersign_policy_shadow_evaluations_total');
    expect((await evaluate('after-drop', 1500)).outcome).toBe('needs_approval');
    expect(await metric('countersign_policy_shadow_evaluations_total')).toBe(before);
    expect((await policyCli(['drop'], cliEnv)).code).toBe(2);
  });

  it('pnpm policy promote --direct makes the shadow the live policy where replicas require no approval', async () => {
    expect((await policyCli(['shadow', '--dir', candidateDir], cliEnv)).code).toBe(0);
    const run = await policyCli(['promote', '--direct'], cliEnv);
    expect(run.stdout).toContain(`promoted ${candidateRevision}`);
    await waitUntil(async () => (await callEndpoint(nc, 'policyInfo', {})).revision === candidateRevision, {
      message: 'the promoted revision to serve',
    });
    const d = await evaluate('after-promote', 1500);
    expect(d).toMatchObject({ outcome: 'auto_approve', revision: candidateRevision });
  });
});
