/**
 * Services killed under load: each of the three services is SIGKILLed and restarted, twice,
 * while requests and decisions keep coming. Nothing accepted may be lost or doubled, and the
 * system must work end to end again within 10 s of each restart.
 */
import { describe, expect, it } from 'vitest';
import { RECOVERY_BUDGET_MS, runScenario } from './scenario.js';
import { startFaultSystem } from './system.js';

const sys = await startFaultSystem('services');

describe('services killed under load', () => {
  it('lose and double nothing, and recover on their own', { timeout: 240_000 }, async () => {
    const result = await runScenario(sys, 'services', async (ctx) => {
      for (let round = 1; round <= 2; round++) {
        for (const service of sys.services) {
          await ctx.underLoad();
          await ctx.fault(`SIGKILL ${service.name} (${round})`, {
            inject: () => service.crash(),
            heal: () => service.restart(),
          });
        }
      }
    });
    expect(result.faults).toHaveLength(6);
    expect(result.invariants.violations).toEqual([]);
    expect(result.load.incomplete).toEqual([]);
    expect(result.exited).toEqual([]);
    expect(result.faults.filter((f) => f.recovery_ms > RECOVERY_BUDGET_MS)).toEqual([]);
  });
});
