import { randomUUID } from 'node:crypto';
import {
  type EndpointHandlers,
  flatLineLogger,
  type Logger,
  markFailed,
  startSpan,
} from '@countersign/runtime';
import { ENTRYPOINTS } from './bundle.js';
import type { PolicyHolder } from './holder.js';
import type { PolicyMetrics } from './metrics.js';
import { logOpaDecision } from './opa-log.js';
import { evaluateShadow } from './shadow.js';

export type PolicyEndpoint = 'evaluate' | 'authorize' | 'policyInfo';

const reasonCodes = (reasons: { code: string }[]) => reasons.map((r) => r.code);
const elapsedMs = (start: number) => Math.round((performance.now() - start) * 1000) / 1000;

/**
 * The three endpoints. Requests arrive validated (startService decodes them with the contract);
 * every decision, and every refusal to decide, is written as one decision log line.
 */
export interface HandlerOptions {
  metrics?: PolicyMetrics;
  /** Also write each decision as an OPA decision-log event (input and result included). */
  opaDecisionLog?: boolean;
}

export function policyHandlers(
  holder: PolicyHolder,
  logger: Logger,
  options: HandlerOptions = {},
): EndpointHandlers<PolicyEndpoint> {
  const { metrics } = options;
  const opaLog = options.opaDecisionLog ? logger.child({ log: 'opa_decision' }) : undefined;
  // Bound once: a log call per request then only serialises its own fields, which are flat (see
  // flatLineLogger). The OPA-format log carries the whole input and keeps the full redaction.
  const decisions = flatLineLogger(logger, { log: 'decision' });
  // A failure's line carries the error object: nested, so fully redacted.
  const failures = logger.child({ log: 'decision' });
  const shadowLog = logger.child({ log: 'shadow' });

  return {
    async evaluate(request) {
      const start = performance.now();
      const { engine, revision, directory_revision } = holder.current();
      const now = new Date().toISOString();
      const decision_id = randomUUID();
      const input = { ...request, now };
      let evaluation: ReturnType<typeof engine.decide>;
      // The Rego evaluation itself, inside the request's server span (undefined when tracing is off).
      const span = startSpan('policy evaluation', {
        attributes: { 'countersign.action_id': request.action_id, 'countersign.policy.revision': revision },
      });
      try {
        evaluation = engine.decide(input);
        span?.setAttribute('countersign.outcome', evaluation.result.outcome);
      } catch (err) {
        markFailed(span, 'policy decision failed');
        failures.error(
          {
            decision_id,
            revision,
            directory_revision,
            action_id: request.action_id,
            now,
            outcome: 'error',
            err,
          },
          'policy decision failed',
        );
        throw err;
      } finally {
        span?.end();
      }
      const { result, input_digest } = evaluation;
      decisions.info(
        {
          decision_id,
          revision,
          directory_revision,
          input_digest,
          now,
          action_id: request.action_id,
          action_type: request.action_type,
          requested_by: request.requested_by,
          outcome: result.outcome,
          reasons: reasonCodes(result.reasons),
          risk: result.risk,
          required_approvals: result.required_approvals,
          duration_ms: elapsedMs(start),
        },
        'policy decision',
      );
      if (opaLog) {
        logOpaDecision(opaLog, {
          decision_id,
          path: ENTRYPOINTS.decision,
          input,
          result,
          revision,
          directory_revision,
          duration_ms: elapsedMs(start),
        });
      }
      // After the live decision is final: the shadow can only be logged and counted.
      evaluateShadow(holder, input, { result, revision, decision_id }, shadowLog, metrics);
      return { ...result, revision, decision_id, directory_revision };
    },

    async authorize(request) {
      const start = performance.now();
      const { engine, revision, directory_revision } = holder.current();
      const { action, actor } = request;
      const action_id = request.approval.action_id;
      let evaluation: ReturnType<typeof engine.authorize>;
      try {
        evaluation = engine.authorize(request);
      } catch (err) {
        failures.error(
          { revision, directory_revision, action_id, action, actor, allowed: 'error', err },
          'policy authorization failed',
        );
        throw err;
      }
      const { result, input_digest } = evaluation;
      decisions.info(
        {
          revision,
          directory_revision,
          input_digest,
          action_id,
          action,
          actor,
          allowed: result.allowed,
          reasons: reasonCodes(result.reasons),
          duration_ms: elapsedMs(start),
        },
        'policy authorization',
      );
      if (opaLog) {
        logOpaDecision(opaLog, {
          path: ENTRYPOINTS.authorize,
          input: request,
          result,
          revision,
          directory_revision,
          duration_ms: elapsedMs(start),
        });
      }
      // Only the verdict from the policy; the revisions are the service's to state.
      return { allowed: result.allowed, reasons: result.reasons, revision, directory_revision };
    },

    async policyInfo() {
      return holder.info();
    },
  };
}
