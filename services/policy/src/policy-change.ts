/**
 * A policy change as an approval (`pnpm policy publish` / `activate`): the candidate waits in the
 * bucket as `candidate-<hash>.tar.gz` while an approval of action type `policy_change` (context:
 * revision, a summary of the data diff, the replay result) is routed by the live policy; once it
 * is approved the bundle is put live naming that approval, which every replica with
 * POLICY_REQUIRE_APPROVAL checks before loading it.
 */
import { randomBytes } from 'node:crypto';
import { callEndpoint } from '@countersign/client';
import type { Approval } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ObjectStore } from '@nats-io/obj';
import { POLICY_CHANGE_ACTION_TYPE } from './approved-bundle.js';
import { getBundle, putBundle } from './bucket.js';
import { readBundle } from './bundle.js';
import { PolicyEngine } from './engine.js';
import { PolicyLoadError } from './errors.js';
import type { ReplayReport } from './replay.js';

/** Where a candidate waits for its approval. */
export const candidateObject = (revision: string) => `candidate-${revision.replace(/^sha256:/, '')}.tar.gz`;

/** Changed, added and removed leaves of the data document (golden cases aside), by path. */
export function dataDiff(live: Record<string, unknown>, candidate: Record<string, unknown>) {
  const flat = (value: unknown, path: string, out: Map<string, string>) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) flat(v, path ? `${path}.${k}` : k, out);
    } else out.set(path, JSON.stringify(value));
    return out;
  };
  const a = flat(live, '', new Map());
  const b = flat(candidate, '', new Map());
  const paths = [...new Set([...a.keys(), ...b.keys()])]
    .filter((p) => !p.startsWith('countersign.golden_'))
    .sort();
  const changed = paths.filter((p) => a.get(p) !== b.get(p));
  return {
    changed: changed.length,
    // Bounded: the context must stay small; the full diff is the sources'.
    paths: changed
      .slice(0, 20)
      .map((p) => ({ path: p, live: a.get(p) ?? null, candidate: b.get(p) ?? null })),
  };
}

/** The replay, as much of it as an approver needs to judge the change. */
export function replaySummary(report: ReplayReport) {
  return {
    replayed: report.replayed,
    since: report.since,
    changes: report.changes.length,
    errors: report.errors.length,
    sample: report.changes.slice(0, 10).map((c) => ({
      action_id: c.action_id,
      changed: c.changed,
      live: c.live.outcome,
      candidate: c.candidate.outcome,
    })),
  };
}

export interface FileChange {
  nc: NatsConnection;
  store: ObjectStore;
  bytes: Uint8Array;
  revision: string;
  /** The publisher: the identity the NATS subject proves (`approval.submit.<identity>`). */
  identity: string;
  context: Record<string, unknown>;
  breakGlass: boolean;
}

/** Puts the candidate aside and files its approval under the publisher's identity. */
export async function fileChange(change: FileChange): Promise<Approval> {
  await putBundle(change.store, change.bytes, change.revision, candidateObject(change.revision));
  const id = `policy-${change.revision.replace(/^sha256:/, '').slice(0, 16)}-${randomBytes(3).toString('hex')}`;
  return callEndpoint(
    change.nc,
    'submit',
    {
      action_id: id,
      action_type: POLICY_CHANGE_ACTION_TYPE,
      description: `${change.breakGlass ? 'Break-glass: put' : 'Put'} policy ${change.revision} live`,
      requested_by: change.identity,
      context: {
        ...change.context,
        revision: change.revision,
        ...(change.breakGlass ? { break_glass: true } : {}),
      },
    },
    { actor: change.identity, timeout: 15_000 },
  );
}

/**
 * Puts an approved change live: the candidate named by the approval's revision becomes the
 * bucket's bundle, its object naming the approval. Refused unless the approval is approved.
 */
export async function activateChange(nc: NatsConnection, store: ObjectStore, approvalId: string) {
  const approval = await callEndpoint(nc, 'get', { action_id: approvalId }, { timeout: 10_000 });
  const revision = approval.context.revision;
  if (approval.action_type !== POLICY_CHANGE_ACTION_TYPE || typeof revision !== 'string') {
    throw new PolicyLoadError('approval_required', `approval ${approvalId} is not a policy change`);
  }
  if (approval.status !== 'approved') {
    const votes = approval.votes.filter((v) => v.approved).length;
    throw new PolicyLoadError(
      'approval_required',
      `approval ${approvalId} is ${approval.status} (${votes} of ${approval.required_approvals} approvals): ${revision} stays inactive`,
    );
  }
  const candidate = await getBundle(store, candidateObject(revision));
  if (!candidate) throw new PolicyLoadError('invalid_bundle', `no candidate ${revision} waits in the bucket`);
  const engine = await PolicyEngine.load(readBundle(candidate.bytes));
  if (engine.revision !== revision) {
    throw new PolicyLoadError(
      'invalid_bundle',
      `the waiting candidate is ${engine.revision}, not ${revision}`,
    );
  }
  await putBundle(store, candidate.bytes, revision, undefined, { approval: approvalId });
  await store.delete(candidateObject(revision));
  return { revision, approval };
}
