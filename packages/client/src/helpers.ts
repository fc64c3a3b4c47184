import type { Approval } from '@countersign/contracts';
import { type CountersignClient, newActionId } from './client.js';
import type { WaitOptions } from './wait.js';

interface Common {
  requested_by: string;
  action_id?: string;
  run_id?: string;
  timeout_seconds?: number;
  description?: string;
  context?: Record<string, unknown>;
  wait?: WaitOptions;
}

function optional(common: Common) {
  return {
    ...(common.run_id ? { run_id: common.run_id } : {}),
    ...(common.timeout_seconds ? { timeout_seconds: common.timeout_seconds } : {}),
  };
}

/** Approval for a deployment (`deploy`): production needs ops by default. */
export function requestDeploymentApproval(
  client: CountersignClient,
  input: Common & { service: string; environment: string; version?: string },
): Promise<Approval> {
  return client.requestAndWait(
    {
      action_id: input.action_id ?? newActionId(`deploy-${input.service}`),
      action_type: 'deploy',
      description:
        input.description ??
        `Deploy ${input.service}${input.version ? ` ${input.version}` : ''} to ${input.environment}`,
      requested_by: input.requested_by,
      context: {
        ...input.context,
        environment: input.environment,
        resource: input.service,
        ...(input.version ? { version: input.version } : {}),
      },
      ...optional(input),
    },
    input.wait,
  );
}

/** Approval for a charge (`create_billing`): the amount thresholds of the policy apply. */
export function requestBillingApproval(
  client: CountersignClient,
  input: Common & { amount: number; currency: string; customer: string },
): Promise<Approval> {
  return client.requestAndWait(
    {
      action_id: input.action_id ?? newActionId('billing'),
      action_type: 'create_billing',
      description: input.description ?? `Charge ${input.customer} ${input.amount} ${input.currency}`,
      requested_by: input.requested_by,
      context: { ...input.context, amount: input.amount, currency: input.currency, resource: input.customer },
      ...optional(input),
    },
    input.wait,
  );
}

/** Approval to run a command (`code_execution`): a sensitive action, security reviews it. */
export function requestCodeExecutionApproval(
  client: CountersignClient,
  input: Common & { command: string; environment?: string },
): Promise<Approval> {
  return client.requestAndWait(
    {
      action_id: input.action_id ?? newActionId('exec'),
      action_type: 'code_execution',
      description: input.description ?? `Run: ${input.command.slice(0, 200)}`,
      requested_by: input.requested_by,
      context: {
        ...input.context,
        command: input.command,
        ...(input.environment ? { environment: input.environment } : {}),
      },
      ...optional(input),
    },
    input.wait,
  );
}
