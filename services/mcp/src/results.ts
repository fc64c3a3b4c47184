/**
 * MCP tool results. Every refusal is a tool error (`isError`) whose structured content is the
 * contract's error (`code`, `message`, `reasons`, `fields`), so a model reads why and a program
 * can branch on the code, never on the text.
 */
import { ApprovalOutcomeError, WaitTimeoutError } from '@countersign/client';
import { isCountersignError } from '@countersign/contracts';
import { coerceError } from '@countersign/runtime';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type StateReport, summaryOf } from './states.js';

export function stateResult(report: StateReport, isError = false): CallToolResult {
  return {
    content: [{ type: 'text', text: summaryOf(report) }],
    structuredContent: { ...report },
    ...(isError ? { isError: true } : {}),
  };
}

export function errorResult(
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): CallToolResult {
  const reasons = Array.isArray(details.reasons) ? (details.reasons as { code: string }[]) : [];
  const codes = reasons.map((r) => r.code).join(', ');
  return {
    content: [{ type: 'text', text: `${code}${codes ? ` (${codes})` : ''}: ${message}` }],
    structuredContent: { error: { code, message, ...details } },
    isError: true,
  };
}

/** A thrown error as a tool error: contract errors keep their code and details. */
export function resultOfError(err: unknown): CallToolResult {
  if (isCountersignError(err)) return errorResult(err.code, err.message, err.details ?? {});
  if (err instanceof WaitTimeoutError || err instanceof ApprovalOutcomeError) {
    return errorResult('internal', err.message);
  }
  const error = coerceError(err);
  return errorResult(error.code, error.message, error.details ?? {});
}
