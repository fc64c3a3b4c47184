/**
 * Countersign's own tools. Who acts is always the authenticated agent (its NATS credentials over
 * stdio, its bearer token over HTTP), never an argument: no tool takes a `requested_by`, and the
 * client sends every command under the agent's identity, where nats-server lets only that agent
 * (or the gateway the directory says acts for it) publish.
 */
import { type CountersignClient, newActionId, TASK_PAUSE, WaitTimeoutError } from '@countersign/client';
import {
  ActionId,
  type Approval,
  CountersignError,
  invalidRequest,
  MAX_TIMEOUT_SECONDS,
} from '@countersign/contracts';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { requestActionId } from './action-ids.js';
import { errorResult, resultOfError, stateResult } from './results.js';
import { stateOf } from './states.js';

/** An authenticated agent: its identity and a client that acts as it. */
export interface Agent {
  identity: string;
  client: CountersignClient;
}

export interface ToolSettings {
  dashboardUrl: string | undefined;
  /** The longest wait_for_decision may wait. */
  maxWaitMs: number;
}

export interface ToolCall {
  agent: Agent;
  settings: ToolSettings;
  signal: AbortSignal;
}

const ContextArg = z.record(z.string(), z.unknown()).optional();

const Inputs = {
  request_approval: z.strictObject({
    action_type: z.string().min(1).max(64),
    description: z.string().min(1).max(2000),
    context: ContextArg,
    timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
    idempotency_key: z.string().min(1).max(256).optional(),
  }),
  get_approval: z.strictObject({ action_id: ActionId }),
  wait_for_decision: z.strictObject({
    action_id: ActionId,
    timeout_seconds: z.number().min(0).max(MAX_TIMEOUT_SECONDS).optional(),
  }),
  pause_task: z.strictObject({
    task_id: ActionId,
    reason: z.string().min(1).max(2000),
    timeout_seconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
    context: ContextArg,
  }),
  resume_task: z.strictObject({
    task_id: ActionId,
    message: z.string().max(2000).optional(),
    reject: z.boolean().optional(),
  }),
  list_my_pending: z.strictObject({ limit: z.number().int().min(1).max(100).optional() }),
} as const;

export type CountersignToolName = keyof typeof Inputs;

const annotations = {
  read: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  write: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
};

/** The tools as `tools/list` shows them. */
export function countersignTools(settings: ToolSettings): Tool[] {
  const describe: Record<CountersignToolName, { description: string; hints: Tool['annotations'] }> = {
    request_approval: {
      description:
        'Ask Countersign for approval of an action you are about to take. Answers the policy outcome at once: approved, rejected (with the policy reasons) or pending (then wait_for_decision). You are the requester; give an idempotency_key to make a retried call land on the same request.',
      hints: annotations.write,
    },
    get_approval: {
      description:
        'The current state of an approval you requested: pending, approved, rejected, expired or cancelled.',
      hints: annotations.read,
    },
    wait_for_decision: {
      description: `Wait for a person's decision, at most timeout_seconds (default 30, at most ${Math.floor(settings.maxWaitMs / 1000)}). Answers the state: still pending when the wait ran out (the request stays open until it expires), or approved, rejected, expired or cancelled, with the reason and the review URL.`,
      hints: annotations.read,
    },
    pause_task: {
      description:
        'Pause a task of yours until it is resumed (or the pause expires). You own the task: only you can resume it with resume_task.',
      hints: annotations.write,
    },
    resume_task: {
      description: 'Resume (or, with reject, refuse) a task you paused, with a message for it.',
      hints: annotations.write,
    },
    list_my_pending: {
      description: 'Your approvals still waiting for a decision, newest first.',
      hints: annotations.read,
    },
  };
  return (Object.keys(Inputs) as CountersignToolName[]).map((name) => ({
    name,
    description: describe[name].description,
    inputSchema: z.toJSONSchema(Inputs[name], { io: 'input' }) as Tool['inputSchema'],
    annotations: describe[name].hints,
  }));
}

export function isCountersignTool(name: string): name is CountersignToolName {
  return Object.hasOwn(Inputs, name);
}

/** Runs one of Countersign's tools for the agent; every failure is a tool error, never a throw. */
export async function callCountersignTool(
  name: CountersignToolName,
  args: unknown,
  call: ToolCall,
): Promise<CallToolResult> {
  const parsed = Inputs[name].safeParse(args ?? {});
  if (!parsed.success) {
    const error = invalidRequest(parsed.error);
    return errorResult(error.code, error.message, error.details ?? {});
  }
  try {
    return await handlers[name](parsed.data as never, call);
  } catch (err) {
    return resultOfError(err);
  }
}

type Handler<N extends CountersignToolName> = (
  input: z.output<(typeof Inputs)[N]>,
  call: ToolCall,
) => Promise<CallToolResult>;

const report = (approval: Approval, call: ToolCall) =>
  stateResult(stateOf(approval, call.settings.dashboardUrl));

/**
 * An approval the agent requested, else not_found (never forbidden, which would confirm it
 * exists): an agent reads its own requests, not another's arguments and reasons.
 */
async function ownApproval(call: ToolCall, actionId: string): Promise<Approval> {
  const approval = await call.agent.client.get(actionId);
  if (approval.requested_by !== call.agent.identity) {
    throw new CountersignError('not_found', `no approval ${actionId} requested by ${call.agent.identity}`, {
      action_id: actionId,
    });
  }
  return approval;
}

const handlers: { [N in CountersignToolName]: Handler<N> } = {
  async request_approval(input, call) {
    const { agent } = call;
    const approval = await agent.client.submit({
      action_id: requestActionId(agent.identity, input.idempotency_key, () => newActionId('mcp')),
      action_type: input.action_type,
      description: input.description,
      context: input.context ?? {},
      requested_by: agent.identity,
      ...(input.timeout_seconds ? { timeout_seconds: input.timeout_seconds } : {}),
    });
    return report(approval, call);
  },

  async get_approval(input, call) {
    return report(await ownApproval(call, input.action_id), call);
  },

  async wait_for_decision(input, call) {
    const { client } = call.agent;
    // Read first: an unknown id is not_found at once, a decided one answers without waiting.
    const current = await ownApproval(call, input.action_id);
    if (current.status !== 'pending') return report(current, call);
    const timeout = Math.min((input.timeout_seconds ?? 30) * 1000, call.settings.maxWaitMs);
    try {
      return report(await client.waitForOutcome(input.action_id, { timeout, signal: call.signal }), call);
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err;
      // The caller's wait ran out, not the approval: it is still pending (or was decided just now).
      return report(await client.get(input.action_id), call);
    }
  },

  async pause_task(input, call) {
    const { agent } = call;
    const approval = await agent.client.submit({
      action_id: input.task_id,
      action_type: TASK_PAUSE,
      description: input.reason,
      context: input.context ?? {},
      requested_by: agent.identity,
      ...(input.timeout_seconds ? { timeout_seconds: input.timeout_seconds } : {}),
    });
    return report(approval, call);
  },

  async resume_task(input, call) {
    const { client } = call.agent;
    // Another agent's task is refused by the policy's resume rule (not_owner), like on NATS.
    const task = await client.get(input.task_id);
    if (task.action_type !== TASK_PAUSE) {
      throw new CountersignError('invalid_request', `${input.task_id} is not a paused task`, {
        fields: [{ path: 'task_id', message: `is a ${task.action_type} approval, not a ${TASK_PAUSE}` }],
      });
    }
    const approval = await client.decide({
      action_id: input.task_id,
      approved: !input.reject,
      ...(input.message ? { reason: input.message } : {}),
    });
    return report(approval, call);
  },

  async list_my_pending(input, call) {
    const { agent } = call;
    const { items } = await agent.client.list({
      status: 'pending',
      requested_by: agent.identity,
      limit: input.limit ?? 50,
    });
    const approvals = items.map((a) => stateOf(a, call.settings.dashboardUrl));
    return {
      content: [
        {
          type: 'text',
          text:
            approvals.length === 0
              ? 'nothing pending'
              : approvals.map((a) => `${a.action_id} (${a.action_type}) until ${a.expires_at}`).join('\n'),
        },
      ],
      structuredContent: { approvals },
    };
  },
};
