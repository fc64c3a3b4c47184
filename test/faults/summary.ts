/** What one fault run reports, and the counts docs/reliability.md quotes from it. */
import type { InvariantReport } from './invariants.js';
import type { LoadStats } from './load.js';

export interface FaultRecord {
  fault: string;
  /** When the fault was injected and when healing started (ms since the epoch). */
  started_at: number;
  ended_at: number;
  /** From the end of the fault (healing started) until a request went through end to end again. */
  recovery_ms: number;
}

export interface ScenarioResult {
  scenario: string;
  at: string;
  duration_s: number;
  load: LoadStats;
  faults: FaultRecord[];
  /** Services whose process had died by the end (nothing restarts them but the scenario). */
  exited: string[];
  invariants: InvariantReport;
}

/** The counts docs/reliability.md reports. */
export function summary(result: ScenarioResult) {
  const inv = result.invariants;
  return {
    scenario: result.scenario,
    requests: inv.requests,
    decisions: result.load.decisions,
    /** Client calls retried because of a fault (unavailable, timed out). */
    retries: result.load.retries,
    faults: result.faults.length,
    exited: result.exited.length,
    lost: inv.lost.length,
    duplicated: inv.duplicated.length,
    violations: inv.violations.length,
    max_recovery_ms: Math.max(0, ...result.faults.map((f) => f.recovery_ms)),
    notifications: inv.notifications,
  };
}
