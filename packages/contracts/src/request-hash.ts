/**
 * The request hash: what binds an approval to the exact request it answers. Requesters compute
 * it for what they sent and compare it with the approval's `request_hash`, so an action_id
 * filed first by someone else with other content (a squatted id) or a forged decided event is
 * never taken for their own approval. docs/contract.md ("Request hash") specifies the form so
 * other languages compute the same bytes; test-vectors/request-hashes.json pins it.
 */
import { createHash } from 'node:crypto';
import type { ApprovalRequest } from './schemas.js';

/**
 * JSON with object keys sorted at every level (by UTF-16 code units, as Array.prototype.sort
 * does), so equal values always give equal text whatever order the keys arrived in or
 * PostgreSQL's jsonb stored them in. Keys whose value is `undefined` are dropped, as
 * JSON.stringify does; no whitespace.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) sorted[key] = sortKeys(v);
    }
    return sorted;
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * sha256 (lowercase hex) of the canonical JSON of the PARSED request: defaults applied
 * (`context` `{}`), `requested_by` canonical, absent optional fields left out.
 */
export function requestHash(request: ApprovalRequest): string {
  return sha256Hex(canonicalJson(request));
}
