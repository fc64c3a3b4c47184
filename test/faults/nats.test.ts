/**
 * nats-server killed under load: SIGKILLed, kept down for a few seconds, and started again on
 * the same store directory, twice. The streams, their messages and the consumers' positions
 * come back from disk; the services reconnect by themselves. Nothing acknowledged may be lost
 * or doubled.
 */
import { describe, expect, it } from 'vitest';
import { hold, RECOVERY_BUDGET_MS, runScenario } from './scenario.js';
import { startFaultSystem } from './system.js';

const sys = await startFaultSystem('nats');

describe('nats-server killed under load', () => {
  it('loses and doubles nothing, and the services recover on their own', { timeout: 240_000 }, async () => {
    const storeDir = sys.nats.storeDir;
    const result = await runScenario(sys, 'nats', async (ctx) => {
      for (let round = 1; round <= 2; round++) {
        await ctx.underLoad(20);
        await ctx.fault(`SIGKILL nats-server (${round})`, {
          inject: async () => {
            await sys.nats.crash();
            await hold(3_000);
          },
          heal: () => sys.nats.restart(),
        });
      }
    });
    expect(sys.nats.storeDir).toBe(storeDir);
    expect(result.faults).toHaveLength(2);
    expect(result.invariants.violations).toEqual([]);
    expect(result.load.incomplete).toEqual([]);
    expect(result.exited).toEqual([]);
    expect(result.faults.filter((f) => f.recovery_ms > RECOVERY_BUDGET_MS)).toEqual([]);
  });
});
