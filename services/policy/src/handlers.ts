import { randomUUID } from 'node:crypto';
import type { EndpointHandlers, Logger } from '@countersign/runtime';
import type { PolicyHolder } from './holder.js';

export type PolicyEndpoint = 'evaluate' | 'authorize' | 'policyInfo';

const reasonCodes = (reasons: { code: string }[]) => reasons.map((r) => r.code);
const elapsedMs = (start: number) => Math.round((performance.now() - start) * 1000) / 1000;

/**
 * The three endpoints. Requests arrive validated (startService decodes them with the contract);
 * every decision, and every refusal to decide, is written as one decision log line.
 */
export function policyHandlers(holder: PolicyHolder, logger: Logger): EndpointHandlers<PolicyEndpoint> {
  // Bound once: a log call per request then only serialises its own fields.
  const decisions = logger.child({ log: 'decision' });

  return {
    async evaluate(request) {
      const start = performance.now();
      const { engine, revision } = holder.current();
      const now = new Date().toISOString();
      const decision_id = randomUUID();
      let evaluation: ReturnType<typeof engine.decide>;
      try {
        evaluation = engine.decide({ ...request, now });
      } catch (err) {
        decisions.error(
          { decision_id, revision, action_id: request.action_id, now, outcome: 'error', err },
          'policy decision failed',
        );
        throw err;
      }
      const { result, input_digest } = evaluation;
      decisions.info(
        {
          decision_id,
          revision,
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
      return { ...result, revision, decision_id };
    },

    async authorize(request) {
      const start = performance.now();
      const { engine, revision } = holder.current();
      const action_id = request.approval.action_id;
      let evaluation: ReturnType<typeof engine.authorize>;
      try {
        evaluation = engine.authorize(request);
      } catch (err) {
        decisions.error(
          { revision, action_id, decider: request.decider, allowed: 'error', err },
          'policy authorization failed',
        );
        throw err;
      }
      const { result, input_digest } = evaluation;
      decisions.info(
        {
          revision,
          input_digest,
          action_id,
          decider: request.decider,
          allowed: result.allowed,
          reasons: reasonCodes(result.reasons),
          duration_ms: elapsedMs(start),
        },
        'policy authorization',
      );
      return result;
    },

    async policyInfo() {
      return holder.info();
    },
  };
}
