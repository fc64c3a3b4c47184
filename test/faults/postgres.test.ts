/**
 * PostgreSQL stopped immediately under load: the postmaster is SIGKILLed (no checkpoint, no
 * goodbye to clients) and started again on the same data directory, which then runs crash
 * recovery, twice. What a service committed must survive; what it had not committed must be
 * retried by it, not lost.
 */
import { describe, expect, it } from 'vitest';
import { hold, RECOVERY_BUDGET_MS, runScenario } from './scenario.js';
import { startFaultSystem } from './system.js';

const sys = await startFaultSystem('postgres');

describe('PostgreSQL crashed under load', () => {
  it('loses and doubles nothing, and the services recover on their own', { timeout: 240_000 }, async () => {
    const result = await runScenario(sys, 'postgres', async (ctx) => {
      for (let round = 1; round <= 2; round++) {
        await ctx.underLoad(20);
        await ctx.fault(`SIGKILL postgres (${round})`, {
          inject: async () => {
            await sys.pg.crash();
            await hold(2_000);
          },
          heal: () => sys.pg.restart(),
        });
      }
    });
    expect(result.faults).toHaveLength(2);
    expect(result.invariants.violations).toEqual([]);
    expect(result.load.incomplete).toEqual([]);
    expect(result.exited).toEqual([]);
    expect(result.faults.filter((f) => f.recovery_ms > RECOVERY_BUDGET_MS)).toEqual([]);
  });
});
