/**
 * A bad network between the services and PostgreSQL and NATS, through the fault proxy: added
 * latency, every connection reset at once, and a black hole that swallows traffic for a few
 * seconds, on each path in turn; then the webhook receiver refuses (503) for a second, less
 * than the notifier's retry schedule lasts, so the retry path runs under load. The services must
 * ride it out on their own (no restarts) and lose or double nothing.
 */
import type { FaultProxy } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';
import { hold, RECOVERY_BUDGET_MS, runScenario } from './scenario.js';
import { startFaultSystem } from './system.js';

const sys = await startFaultSystem('network');

describe('network faults between the services and PostgreSQL or NATS', () => {
  it('lose and double nothing, and the services recover without a restart', {
    timeout: 240_000,
  }, async () => {
    const pids = sys.services.map((s) => s.process().pid);
    const paths: [string, FaultProxy][] = [
      ['postgres', sys.pgProxy],
      ['nats', sys.natsProxy],
    ];
    const result = await runScenario(sys, 'network', async (ctx) => {
      for (const [name, proxy] of paths) {
        await ctx.underLoad();
        await ctx.fault(`200 ms latency to ${name} for 3 s`, {
          inject: async () => {
            proxy.setLatency(200);
            await hold(3_000);
          },
          heal: async () => proxy.heal(),
        });
        await ctx.underLoad();
        await ctx.fault(`reset every connection to ${name}`, {
          inject: async () => {
            expect(proxy.resetAll()).toBeGreaterThan(0);
          },
          heal: async () => {},
        });
        await ctx.underLoad();
        await ctx.fault(`black hole to ${name} for 4 s`, {
          inject: async () => {
            proxy.blackhole();
            await hold(4_000);
          },
          heal: async () => proxy.heal(),
        });
      }
      await ctx.underLoad();
      // The fault runs use retries at 0, 200 ms, 1 s and 2 s (±20 %): a delivery refused for
      // 1 s is attempted again at least 2.5 s after its first attempt, and gets through.
      await ctx.fault('webhook receiver refuses (503) for 1 s', {
        inject: async () => {
          sys.hooks.refuse();
          await hold(1_000);
        },
        heal: async () => sys.hooks.accept(),
      });
    });
    expect(result.faults).toHaveLength(7);
    expect(result.invariants.violations).toEqual([]);
    // The receiver refused, and the deliveries it refused were retried and delivered.
    expect(sys.hooks.refused()).toBeGreaterThan(0);
    expect(result.invariants.notifications?.retried).toBeGreaterThan(0);
    expect(result.load.incomplete).toEqual([]);
    expect(result.faults.filter((f) => f.recovery_ms > RECOVERY_BUDGET_MS)).toEqual([]);
    // Recovered on their own: the same processes as before, all still running.
    expect(sys.services.map((s) => s.process().pid)).toEqual(pids);
    expect(result.exited).toEqual([]);
  });
});
