/**
 * Stable action_ids for MCP calls. A retried call (the agent's client timed out, the gateway
 * restarted) must land on the same approval, or it would be asked for and forwarded twice. The
 * JSON-RPC request id is no good for that: it is per connection and restarts at 0. So the id is
 * derived from who calls plus what identifies the call:
 *
 * - the caller's own idempotency key, `_meta["countersign/idempotency_key"]`, when given: two
 *   calls with equal arguments but different keys are two actions (pay 10 EUR twice);
 * - otherwise the tool and its canonical arguments: an identical call is the same action.
 *
 * The principal is part of the hash, so two agents never share an approval by accident.
 */
import { canonicalJson, sha256Hex } from '@countersign/contracts';

/** Where an agent puts its idempotency key for a call. */
export const IDEMPOTENCY_META_KEY = 'countersign/idempotency_key';
/** Where a gated call's result carries its approval (the receipt until signed receipts exist). */
export const APPROVAL_META_KEY = 'countersign/approval';

/** The idempotency key a call's `_meta` carries, if any (a non-empty string up to 256 chars). */
export function idempotencyKeyOf(meta: Record<string, unknown> | undefined): string | undefined {
  const key = meta?.[IDEMPOTENCY_META_KEY];
  return typeof key === 'string' && key.length > 0 && key.length <= 256 ? key : undefined;
}

/** The action_id of a gated tool call. */
export function callActionId(
  principal: string,
  tool: string,
  args: Record<string, unknown>,
  key: string | undefined,
): string {
  const identity = key === undefined ? { tool, args } : { tool, key };
  return `mcp-${sha256Hex(canonicalJson({ principal, ...identity })).slice(0, 40)}`;
}

/** The action_id of a request_approval call: from the agent's key, else new. */
export function requestActionId(principal: string, key: string | undefined, fresh: () => string): string {
  if (key === undefined) return fresh();
  return `mcp-${sha256Hex(canonicalJson({ principal, request: key })).slice(0, 40)}`;
}

/** The action type of a gated tool: `mcp.<tool>`, so no tool can pose as a built-in type (task_pause). */
export function toolActionType(tool: string): string {
  const clean = tool.replace(/[\p{Cc}\s]/gu, '_');
  const type = `mcp.${clean}`;
  return type.length <= 64 ? type : `mcp.${clean.slice(0, 47)}~${sha256Hex(tool).slice(0, 12)}`;
}
