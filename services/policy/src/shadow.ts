/**
 * Shadow mode: a candidate evaluates every request beside the live policy and is never
 * enforced. Each disagreement is logged with both revisions and counted; the caller's answer is
 * the live policy's whatever the shadow does, errors included.
 */
import type { PolicyResult } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import { changedFields, summarize } from './compare.js';
import type { DecisionInput } from './engine.js';
import type { PolicyHolder } from './holder.js';
import type { PolicyMetrics } from './metrics.js';

export function evaluateShadow(
  holder: PolicyHolder,
  input: DecisionInput,
  live: { result: PolicyResult; revision: string; decision_id: string },
  logger: Logger,
  metrics: PolicyMetrics | undefined,
): void {
  const shadow = holder.shadow();
  if (!shadow) return;
  const fields = {
    decision_id: live.decision_id,
    action_id: input.action_id,
    action_type: input.action_type,
    revision: live.revision,
    shadow_revision: shadow.revision,
  };
  let result: PolicyResult;
  try {
    result = shadow.engine.decide(input).result;
  } catch (err) {
    holder.countShadow('failed');
    metrics?.shadowFailed(live.revision, shadow.revision);
    logger.warn({ ...fields, err }, 'shadow policy failed closed');
    return;
  }
  const liveSummary = summarize(live.result);
  const shadowSummary = summarize(result);
  const changed = changedFields(liveSummary, shadowSummary);
  holder.countShadow(changed.length === 0 ? 'agreed' : 'disagreed');
  metrics?.shadowEvaluated(live.revision, shadow.revision, changed.length === 0);
  if (changed.length > 0) {
    logger.warn({ ...fields, changed, live: liveSummary, shadow: shadowSummary }, 'shadow policy disagrees');
  }
}
