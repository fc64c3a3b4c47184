/**
 * Scale-out under faults: two replicas of each service on a three-node NATS cluster with R3
 * streams. Under load, the node leading the intake stream and one replica of each service are
 * SIGKILLed at once, and stay down while the rest carry on; later the node comes back. The same
 * invariants must hold, the services must work again within 10 s of NATS's own failover (the
 * raft elections of the streams and consumers, timed and reported), and the rate at which
 * requests are recorded must come back to what it was before the fault.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Streams } from '@countersign/contracts';
import { REPO_ROOT } from '@countersign/devinfra';
import { spawnService, waitUntil } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { call, payment } from '../support.js';
import { startClusterSystem } from './cluster.js';
import { RECOVERY_BUDGET_MS, runScenario } from './scenario.js';

const sys = await startClusterSystem('cluster');

/** Load approvals recorded per second between two instants. */
async function recordedRate(from: number, to: number): Promise<number> {
  const { rows } = await sys.pool.query(
    `select count(*)::int as n from approval.approvals
      where action_id like 'cluster-load-%' and created_at >= $1 and created_at < $2`,
    [new Date(from), new Date(to)],
  );
  return rows[0].n / ((to - from) / 1000);
}

describe('scale-out: two replicas of each service on a three-node cluster', () => {
  it('loses and doubles nothing when a node and a replica of each service die, and keeps its pace', {
    timeout: 300_000,
  }, async () => {
    for (const stream of [Streams.requests, Streams.events]) {
      expect((await sys.jsm.streams.info(stream)).config.num_replicas).toBe(3);
    }
    const killed = [sys.policy[1], sys.approval[1], sys.notifier[1]];
    let electionStarted = 0;
    let electionMs = 0;
    const leader = await sys.intakeLeader();
    const result = await runScenario(
      sys,
      'cluster',
      async (ctx) => {
        await ctx.underLoad(40);
        await ctx.fault('SIGKILL the intake stream leader node and one replica of each service', {
          // The fault lasts until NATS has failed over (new leaders elected); nothing comes back.
          inject: async () => {
            await Promise.all([leader.node.crash(), ...killed.map((s) => s?.crash())]);
            electionStarted = Date.now();
            await sys.reelected(leader.name);
            electionMs = Date.now() - electionStarted;
          },
          heal: async () => {},
        });
        await ctx.underLoad(40);
        await ctx.fault('the node comes back and rejoins', {
          inject: async () => {},
          heal: () => leader.node.restart(),
        });
      },
      { total: 300, perSecond: 9 },
    );
    expect(result.invariants.violations).toEqual([]);
    expect(result.load.incomplete).toEqual([]);
    expect(result.faults.filter((f) => f.recovery_ms > RECOVERY_BUDGET_MS)).toEqual([]);
    // The killed replicas stayed dead; every other process lived through it.
    expect(result.exited.sort()).toEqual(['approval', 'notifier', 'policy']);

    // Throughput: requests recorded per second in the 4 s before the fault and in the 4 s after
    // the system worked again. The load is paced, so "recovered" means back to that pace.
    const fault = result.faults[0] as (typeof result.faults)[number];
    const before = await recordedRate(fault.started_at - 4_000, fault.started_at);
    const recovered = fault.ended_at + fault.recovery_ms;
    const after = await recordedRate(recovered, recovered + 4_000);
    console.log(
      JSON.stringify({ cluster: { election_ms: electionMs, recovery_ms: fault.recovery_ms, before, after } }),
    );
    writeFileSync(
      join(REPO_ROOT, '.artifacts/faults/cluster-throughput.json'),
      `${JSON.stringify({ election_ms: electionMs, recovery_ms: fault.recovery_ms, per_second_before: before, per_second_after: after })}\n`,
    );
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThanOrEqual(before * 0.8);
  });

  it('delivers again within seconds when the leader of the notifier consumer dies under a notifier that stays connected', {
    timeout: 120_000,
  }, async () => {
    // A notifier connected only to the other nodes: its connection never drops, so nothing but
    // its own pull requests can tell it that the consumer's leader (and its pending pull) is gone.
    const leaderName = (await sys.jsm.consumers.info(Streams.events, 'notifier')).cluster?.leader as string;
    const leaderNode = sys.cluster.nodes[
      Number(leaderName.slice(1)) - 1
    ] as (typeof sys.cluster.nodes)[number];
    const others = sys.cluster.nodes
      .filter((n) => n !== leaderNode)
      .map((n) => n.url)
      .join(',');
    for (const n of sys.notifier) await n.stop();
    const notifier = await spawnService('notifier', {
      env: { ...sys.notifierEnv, NATS_URL: others },
      nats: sys.nats,
    });
    await leaderNode.crash();
    await sys.reelected(leaderName);
    const fresh = payment('cluster-after-leader-loss', 10);
    const started = Date.now();
    await call(sys.nc, 'submit', fresh);
    await waitUntil(
      () => sys.hooks.accepted().some((r) => r.body.includes(`"action_id":"${fresh.action_id}"`)),
      {
        timeout: 60_000,
        message: 'the webhook of a request made after the consumer leader died',
      },
    );
    const deliveredIn = Date.now() - started;
    console.log(JSON.stringify({ notifier_after_leader_loss_ms: deliveredIn }));
    // The promise under test is the recovery budget (10 s); it took 0.2-0.7 s in the recorded
    // runs (docs/reliability.md), and 34.6 s before the fix this test was written for.
    expect(deliveredIn).toBeLessThan(RECOVERY_BUDGET_MS);
    expect(notifier.process().child.exitCode).toBeNull();
  });
});
