import type { Approval } from '@countersign/contracts';
import type { CountersignClient } from './client.js';
import type { WaitOptions } from './wait.js';

/** The action type the default policy always sends to a human, with ownership as the rule. */
export const TASK_PAUSE = 'task_pause';

export interface PauseOptions extends WaitOptions {
  /** Why the task waits; what the resumer reads. */
  reason: string;
  /**
   * The identity that owns the task: the one that pauses it (the client's identity when absent).
   * Only that identity may resume it (the policy's resume rule).
   */
  owner?: string;
  /** How long the pause may last before it expires, in seconds. */
  timeout_seconds?: number;
  context?: Record<string, unknown>;
}

export interface ResumeResult {
  approval: Approval;
  /** The resumer's message (the decision reason). */
  message: string | null;
}

/**
 * Pauses a task until someone resumes it: creates a `task_pause` approval (always needs a human)
 * and waits. Resolves with the resume message; rejects with ApprovalRejectedError when the
 * pause is refused, ApprovalExpiredError when nobody resumed in time.
 */
export async function pause(
  client: CountersignClient,
  taskId: string,
  options: PauseOptions,
): Promise<ResumeResult> {
  const { reason, owner, timeout_seconds, context, ...wait } = options;
  const approval = await client.requestAndWait(
    {
      action_id: taskId,
      action_type: TASK_PAUSE,
      description: reason,
      ...(owner === undefined ? {} : { requested_by: owner }),
      context: { ...context },
      ...(timeout_seconds ? { timeout_seconds } : {}),
    },
    wait,
  );
  return { approval, message: approval.decision_reason };
}

export interface ResumeOptions {
  message?: string;
  /** Who resumes: the client's identity when absent. Only the task's owner may (forbidden otherwise). */
  resumed_by?: string;
  /** Resume with a refusal instead: the paused task gets ApprovalRejectedError. */
  reject?: boolean;
}

/**
 * Wakes a paused task with a message. Only the task's owner, the identity that paused it, may
 * resume it: anyone else is refused (forbidden, not_owner) by the policy.
 */
export function resume(
  client: CountersignClient,
  taskId: string,
  options: ResumeOptions = {},
): Promise<Approval> {
  return client.decide({
    action_id: taskId,
    approved: !options.reject,
    ...(options.resumed_by === undefined ? {} : { decided_by: options.resumed_by }),
    ...(options.message ? { reason: options.message } : {}),
  });
}

/** Paused tasks waiting for a resume, newest first. */
export async function listPaused(client: CountersignClient, limit = 100): Promise<Approval[]> {
  return (await client.list({ status: 'pending', action_type: TASK_PAUSE, limit })).items;
}
