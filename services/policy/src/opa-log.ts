/**
 * Decision logs in OPA's decision-log event format (the `openpolicyagent.org/decision_logs`
 * events OPA's console logger writes), so tools that read OPA's logs read ours: one JSON line per
 * evaluation with `decision_id`, `path`, `input`, `result`, `timestamp`, `bundles` (revision),
 * `labels` and `metrics`. Opt-in (POLICY_DECISION_LOG=opa): it carries the whole input, context
 * included, which the default decision log never writes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@countersign/runtime';
import pkg from '../package.json' with { type: 'json' };

/** The event type OPA's console decision logger gives its lines. */
export const OPA_DECISION_LOG_TYPE = 'openpolicyagent.org/decision_logs';

export interface OpaDecision {
  decision_id?: string;
  /** The entrypoint, e.g. `countersign/decision/result`. */
  path: string;
  input: unknown;
  result: unknown;
  revision: string;
  directory_revision: string;
  duration_ms: number;
}

/** Writes one OPA decision-log event as a log line (`"msg":"Decision Log"`, as OPA's). */
export function logOpaDecision(logger: Logger, decision: OpaDecision): void {
  logger.info(
    {
      type: OPA_DECISION_LOG_TYPE,
      decision_id: decision.decision_id ?? randomUUID(),
      labels: {
        app: 'countersign-policy',
        version: pkg.version,
        directory_revision: decision.directory_revision,
      },
      // OPA names bundles; ours is one, named for the service.
      bundles: { countersign: { revision: decision.revision } },
      path: decision.path,
      input: decision.input,
      result: decision.result,
      requested_by: '',
      timestamp: new Date().toISOString(),
      metrics: { timer_server_handler_ns: Math.round(decision.duration_ms * 1e6) },
    },
    'Decision Log',
  );
}
