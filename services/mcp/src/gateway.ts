/**
 * Gateway mode: every `tools/call` of an upstream tool becomes an approval request, and the call
 * reaches the upstream only once that approval is `approved`, and then exactly once.
 *
 * - The request: action type `mcp.<tool>`, context `{mcp: {server, tool, annotations,
 *   arguments}}` (what the default policy's MCP rules read), requested by the agent.
 * - Auto-approved calls pass straight through; denied ones are tool errors with the policy's
 *   reasons; calls that need a person wait up to the tool's bound, then answer `pending`.
 * - At most one forward per approval, across retries and gateway restarts: the execution report
 *   (`approval.report`, outcome executed, a detail unique to this forward) is written BEFORE the
 *   upstream is called. The approval service records one report per approval and refuses a
 *   different one (idempotency_conflict), in one transaction, so of two gateways (or a retry
 *   after a restart) exactly one wins the claim and forwards; the other answers that the call
 *   was already forwarded. A crash between the claim and the forward loses that call rather
 *   than running it twice: for a gated tool, not running is the safe side. The claim is also the
 *   last check of the decision: the approval service takes a report only for an approval its
 *   database holds as approved, so no event seen on the wire alone can make the gateway forward.
 */
import { randomUUID } from 'node:crypto';
import { WaitTimeoutError } from '@countersign/client';
import { type Approval, isCountersignError } from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { APPROVAL_META_KEY, callActionId, idempotencyKeyOf, toolActionType } from './action-ids.js';
import { errorResult, resultOfError, stateResult } from './results.js';
import { stateOf } from './states.js';
import type { Agent } from './tools.js';
import type { Upstream } from './upstream.js';

/** Forward results kept in memory for retries (each holds the upstream's result). */
const FORWARDS_KEPT = 1000;

export interface GatewaySettings {
  /** How long a gated call waits for a decision before answering pending (0: at once). */
  waitMs: number;
  /** Per tool: overrides waitMs. */
  toolWaits: ReadonlyMap<string, number>;
  /** The approval window of gated calls, in seconds; undefined: the policy's. */
  approvalTimeoutSeconds: number | undefined;
  dashboardUrl: string | undefined;
}

export interface GatewayCall {
  agent: Agent;
  name: string;
  args: Record<string, unknown>;
  meta: Record<string, unknown> | undefined;
  signal: AbortSignal;
}

export class Gateway {
  private tools = new Map<string, Tool>();
  /**
   * Forwards in flight or done in this process, by action_id: a concurrent retry joins it and a
   * later one gets the same result. The most recent FORWARDS_KEPT only: an older retry is
   * answered `already_forwarded` by the claim, never run again.
   */
  private readonly forwards = new Map<string, Promise<CallToolResult>>();

  constructor(
    private readonly upstream: Upstream,
    private readonly settings: GatewaySettings,
    private readonly logger: Logger,
    /** Names the gateway serves itself: an upstream tool of the same name is not listed. */
    private readonly reserved: ReadonlySet<string>,
  ) {}

  /** The upstream's tools as it lists them (annotations and schemas kept), minus reserved names. */
  async listTools(): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.upstream.client.listTools(cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    const served = tools.filter((tool) => {
      if (!this.reserved.has(tool.name)) return true;
      this.logger.warn(
        { tool: tool.name },
        'an upstream tool has the name of a Countersign tool: not listed',
      );
      return false;
    });
    this.tools = new Map(served.map((tool) => [tool.name, tool]));
    return served;
  }

  async has(name: string): Promise<boolean> {
    if (!this.tools.has(name)) await this.listTools();
    return this.tools.has(name);
  }

  async call(call: GatewayCall): Promise<CallToolResult> {
    const tool = this.tools.get(call.name);
    if (!tool) return errorResult('not_found', `no tool ${call.name}`);
    const { agent } = call;
    const action_id = callActionId(agent.identity, call.name, call.args, idempotencyKeyOf(call.meta));
    const log = this.logger.child({ action_id, tool: call.name, agent: agent.identity });
    try {
      let approval = await agent.client.submit({
        action_id,
        action_type: toolActionType(call.name),
        description: `${agent.identity} calls the MCP tool ${call.name} of ${this.upstream.name}`,
        context: {
          mcp: {
            server: this.upstream.name,
            tool: call.name,
            annotations: tool.annotations ?? {},
            arguments: call.args,
          },
        },
        requested_by: agent.identity,
        ...(this.settings.approvalTimeoutSeconds
          ? { timeout_seconds: this.settings.approvalTimeoutSeconds }
          : {}),
      });
      if (approval.status === 'pending') approval = await this.waitBounded(agent, approval, call);
      log.info({ status: approval.status }, 'gated tool call');
      if (approval.status === 'approved') return await this.forwardOnce(agent, approval, call);
      // pending (not run yet), rejected, expired or cancelled: never forwarded.
      return stateResult(stateOf(approval, this.settings.dashboardUrl), true);
    } catch (err) {
      if (!isCountersignError(err)) log.error({ err }, 'gated tool call failed');
      return resultOfError(err);
    }
  }

  private async waitBounded(agent: Agent, pending: Approval, call: GatewayCall): Promise<Approval> {
    const bound = this.settings.toolWaits.get(call.name) ?? this.settings.waitMs;
    if (bound <= 0) return pending;
    try {
      return await agent.client.waitForOutcome(pending.action_id, { timeout: bound, signal: call.signal });
    } catch (err) {
      if (err instanceof WaitTimeoutError) return pending;
      throw err;
    }
  }

  private forwardOnce(agent: Agent, approval: Approval, call: GatewayCall): Promise<CallToolResult> {
    const running = this.forwards.get(approval.action_id);
    if (running) return running;
    const forward = this.claimAndForward(agent, approval, call);
    this.forwards.set(approval.action_id, forward);
    if (this.forwards.size > FORWARDS_KEPT) this.forwards.delete(this.forwards.keys().next().value as string);
    // Only a forward that ran stays cached for retries in this process; a refused claim is re-asked.
    void forward.then((result) => {
      if (result.isError && !result._meta?.[APPROVAL_META_KEY]) this.forwards.delete(approval.action_id);
    });
    return forward;
  }

  private async claimAndForward(
    agent: Agent,
    approval: Approval,
    call: GatewayCall,
  ): Promise<CallToolResult> {
    const forwardId = randomUUID();
    try {
      await agent.client.reportExecution(approval.action_id, {
        outcome: 'executed',
        detail: `claimed by the MCP gateway to forward ${call.name} to ${this.upstream.name} once (forward ${forwardId})`,
      });
    } catch (err) {
      if (isCountersignError(err) && err.code === 'idempotency_conflict') {
        return errorResult(
          'already_forwarded',
          `${approval.action_id} was approved and already forwarded once by an earlier attempt: it is not run again`,
          { action_id: approval.action_id, state: approval.status },
        );
      }
      // No claim, no forward: running it without one could run it twice.
      return resultOfError(err);
    }
    let result: CallToolResult;
    try {
      result = (await this.upstream.client.callTool({
        name: call.name,
        arguments: call.args,
      })) as CallToolResult;
    } catch (err) {
      this.logger.error({ err, action_id: approval.action_id }, 'the upstream call failed after its claim');
      result = errorResult(
        'upstream_failed',
        `the upstream call failed after it was forwarded; it is not retried: ${(err as Error).message}`,
      );
    }
    return { ...result, _meta: { ...result._meta, [APPROVAL_META_KEY]: approval } };
  }
}
