/**
 * Policy changes as approvals, served by the policy service (`policy.propose.<identity>`,
 * `policy.activate`). A person proposes a bundle with their own NATS credentials: the subject,
 * which only their user may publish, names them. The service checks the bundle exactly as a
 * replica does, computes the data diff and the replay against the live policy itself, keeps the
 * bundle aside in the bucket as `proposal-<action_id>.tar.gz` (people cannot write the bucket),
 * recording the proposer and the `request_hash` of the `policy_change` request it answers, and
 * returns that request. The person files it on `approval.submit.<identity>`, so the approval
 * service sees them as the requester, as for any request, and the live policy routes it (never
 * to them). Activation puts the bundle live only for an approved approval whose `request_hash`
 * is the recorded one: another requester, description or context (the diff and replay an
 * approver judged) cannot be swapped in between.
 */
import { randomBytes } from 'node:crypto';
import { callEndpoint } from '@countersign/client';
import {
  type Approval,
  ApprovalRequest,
  CountersignError,
  type PolicyActivation,
  type PolicyProposal,
  type ProposePolicyRequest,
  requestHash,
} from '@countersign/contracts';
import type { EndpointHandlers, Logger } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ObjectStore } from '@nats-io/obj';
import { POLICY_CHANGE_ACTION_TYPE } from './approved-bundle.js';
import { BUNDLE_OBJECT, getBundle, openPolicyBucket, putBundle, SHADOW_OBJECT } from './bucket.js';
import { readBundle } from './bundle.js';
import { PolicyEngine } from './engine.js';
import { describeLoadError, PolicyLoadError } from './errors.js';
import type { PolicyHolder } from './holder.js';
import { type ReplayReport, replay } from './replay.js';

/** Where a proposed bundle waits for the approval `actionId`. */
export const proposalObject = (actionId: string) => `proposal-${actionId}.tar.gz`;

/** How far back a proposal's replay reads when the proposer does not say. */
const DEFAULT_REPLAY_MS = 7 * 24 * 3600 * 1000;
/** A leaf's value in the diff is cut here: the context must stay well under the payload limit. */
const MAX_DIFF_VALUE = 200;

const clip = (text: string | undefined) =>
  text === undefined ? null : text.length > MAX_DIFF_VALUE ? `${text.slice(0, MAX_DIFF_VALUE)}…` : text;

/** Changed, added and removed leaves of the data document (golden cases aside), by path. */
export function dataDiff(
  live: Readonly<Record<string, unknown>>,
  candidate: Readonly<Record<string, unknown>>,
) {
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
    paths: changed.slice(0, 20).map((p) => ({ path: p, live: clip(a.get(p)), candidate: clip(b.get(p)) })),
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

export interface PolicyChangeDeps {
  nc: NatsConnection;
  /** The policy bucket; undefined when this replica has none (POLICY_BUCKET empty). */
  bucket: string | undefined;
  holder: PolicyHolder;
  /** Whether the directory knows `identity` as a person (only people propose policy changes). */
  isPerson(identity: string): boolean;
  logger: Logger;
}

function refusal(code: string, message: string, details: Record<string, unknown> = {}): CountersignError {
  return new CountersignError('forbidden', message, { ...details, reasons: [{ code, message }] });
}

async function bucketOf(deps: PolicyChangeDeps): Promise<ObjectStore> {
  if (!deps.bucket) {
    throw new CountersignError(
      'unavailable',
      'this policy service follows no bucket (POLICY_BUCKET is empty)',
    );
  }
  return openPolicyBucket(deps.nc, deps.bucket);
}

/** A bundle refused by the checks every replica makes, as the structured error a caller reads. */
function refusedBundle(err: unknown, field: 'bundle' | 'shadow'): CountersignError {
  const { kind, message } = describeLoadError(err);
  const part = err instanceof PolicyLoadError && err.field ? `${field}.${err.field}` : field;
  return new CountersignError('invalid_request', `the bundle is refused (${kind}): ${message}`, {
    kind,
    fields: [{ path: part, message }],
  });
}

/**
 * Checks a proposed bundle and keeps it aside under a new approval id; answers the
 * `policy_change` request `proposer` (the subject's identity) files next.
 */
export async function proposeChange(
  deps: PolicyChangeDeps,
  request: ProposePolicyRequest,
  proposer: string,
): Promise<PolicyProposal> {
  if (request.requested_by !== undefined && request.requested_by !== proposer) {
    throw refusal(
      'actor_mismatch',
      `requested_by must be the authenticated identity (${proposer}), not ${request.requested_by}: it is taken from the credential`,
    );
  }
  if (!deps.isPerson(proposer)) {
    throw refusal(
      'not_a_person',
      `${proposer} is not a person in the directory: only people propose policy changes`,
      {
        identity: proposer,
      },
    );
  }
  const store = await bucketOf(deps);
  const field = request.shadow ? 'shadow' : 'bundle';
  let bytes: Uint8Array;
  let shadowRevision: string | undefined;
  if (request.shadow) {
    const shadow = await getBundle(store, SHADOW_OBJECT);
    if (!shadow)
      throw new CountersignError('not_found', `no shadow policy in ${deps.bucket}: nothing to promote`);
    bytes = shadow.bytes;
    shadowRevision = shadow.info.metadata?.revision;
  } else {
    bytes = Buffer.from(request.bundle ?? '', 'base64');
  }
  let candidate: PolicyEngine;
  try {
    // Checked as every replica checks it (entrypoints, builtins, its own golden cases), with
    // the roles this replica serves: a bundle refused here would be refused by them all.
    candidate = await PolicyEngine.load(readBundle(bytes), { directory: deps.holder.directory });
  } catch (err) {
    throw refusedBundle(err, field);
  }
  const live = deps.holder.current();
  const since = request.replay_since ?? new Date(Date.now() - DEFAULT_REPLAY_MS).toISOString();
  // The replay is evidence for the approvers, not a gate: a failure to read history is reported
  // in the context instead of refusing the proposal.
  const replayed = await replay({ nc: deps.nc, live: live.engine, candidate, since }).then(
    replaySummary,
    (err: unknown) => ({ error: (err as Error).message }),
  );
  const shadowStatus = deps.holder.status().shadow;
  const context: Record<string, unknown> = {
    revision: candidate.revision,
    live_revision: live.revision,
    diff: dataDiff(live.engine.data, candidate.data),
    replay: replayed,
    ...(request.shadow
      ? {
          promotes_shadow: true,
          // This replica's counts since the shadow loaded: how often it disagreed in production.
          ...(shadowStatus?.revision === candidate.revision ? { shadow: shadowStatus } : {}),
        }
      : {}),
    ...(request.break_glass ? { break_glass: true } : {}),
  };
  const actionId = `policy-${candidate.revision.replace(/^sha256:/, '').slice(0, 16)}-${randomBytes(3).toString('hex')}`;
  const verb = request.shadow ? 'Promote the shadow policy' : 'Put policy';
  const approvalRequest = ApprovalRequest.parse({
    action_id: actionId,
    action_type: POLICY_CHANGE_ACTION_TYPE,
    description: `${request.break_glass ? 'Break-glass: ' : ''}${verb} ${candidate.revision} live`,
    context,
    requested_by: proposer,
  });
  await putBundle(store, bytes, candidate.revision, proposalObject(actionId), {
    proposed_by: proposer,
    request_hash: requestHash(approvalRequest),
    ...(shadowRevision !== undefined ? { from_shadow: shadowRevision } : {}),
  });
  deps.logger.info(
    {
      action_id: actionId,
      revision: candidate.revision,
      live_revision: live.revision,
      proposed_by: proposer,
      break_glass: request.break_glass,
      promotes_shadow: request.shadow === true,
    },
    'policy change proposed',
  );
  return {
    revision: candidate.revision,
    live_revision: live.revision,
    warnings: [...candidate.warnings],
    request: { ...approvalRequest, action_type: POLICY_CHANGE_ACTION_TYPE },
  };
}

/**
 * Puts the bundle an approved `policy_change` proposed live: it becomes the bucket's bundle,
 * naming the approval (which every replica with POLICY_REQUIRE_APPROVAL checks again), and a
 * promoted shadow ends. Anyone may ask: the approval is what decides.
 */
export async function activateChange(deps: PolicyChangeDeps, actionId: string): Promise<PolicyActivation> {
  const approval: Approval = await callEndpoint(deps.nc, 'get', { action_id: actionId }, { timeout: 10_000 });
  const revision = approval.context.revision;
  if (approval.action_type !== POLICY_CHANGE_ACTION_TYPE || typeof revision !== 'string') {
    throw refusal('approval_required', `approval ${actionId} is not a policy change`);
  }
  const store = await bucketOf(deps);
  const proposal = await getBundle(store, proposalObject(actionId));
  if (!proposal) {
    // Asked again after it went live (a retry, two operators): the same answer, nothing redone.
    const live = await store.info(BUNDLE_OBJECT);
    if (live && !live.deleted && live.metadata?.approval === actionId) {
      return {
        action_id: actionId,
        revision: live.metadata.revision ?? revision,
        proposed_by: approval.requested_by,
        ended_shadow: false,
        activated: false,
      };
    }
    throw new CountersignError(
      'not_found',
      `no proposal waits for approval ${actionId}: policy changes are proposed with pnpm policy publish (or promote)`,
    );
  }
  if (approval.status !== 'approved') {
    const votes = approval.votes.filter((v) => v.approved).length;
    // Rejected, expired or cancelled: it can never go live, so its proposal leaves the bucket.
    const ended = approval.status !== 'pending';
    if (ended) await store.delete(proposalObject(actionId));
    throw refusal(
      'approval_required',
      `approval ${actionId} is ${approval.status} (${votes} of ${approval.required_approvals} approvals): ${revision} ${ended ? 'will never go live; its proposal is removed' : 'stays inactive'}`,
      { status: approval.status },
    );
  }
  const meta = proposal.info.metadata ?? {};
  // The request the proposal recorded, requester and context included, is the one approved.
  if (!approval.request_hash || approval.request_hash !== meta.request_hash) {
    throw refusal(
      'request_mismatch',
      `approval ${actionId} was not filed with the request its proposal recorded (requester, description or context differ)`,
    );
  }
  let engine: PolicyEngine;
  try {
    engine = await PolicyEngine.load(readBundle(proposal.bytes), { directory: deps.holder.directory });
  } catch (err) {
    throw refusedBundle(err, 'bundle');
  }
  if (engine.revision !== revision || meta.revision !== revision) {
    throw refusal('request_mismatch', `the proposal holds ${engine.revision}, not the approved ${revision}`);
  }
  await putBundle(store, proposal.bytes, revision, BUNDLE_OBJECT, {
    approval: actionId,
    proposed_by: approval.requested_by,
  });
  await store.delete(proposalObject(actionId));
  let endedShadow = false;
  if (meta.from_shadow !== undefined) {
    const shadow = await store.info(SHADOW_OBJECT);
    // Only the shadow that was promoted: a newer shadow published since keeps running.
    if (shadow && !shadow.deleted && shadow.metadata?.revision === revision) {
      await store.delete(SHADOW_OBJECT);
      endedShadow = true;
    }
  }
  deps.logger.info(
    { action_id: actionId, revision, proposed_by: approval.requested_by, ended_shadow: endedShadow },
    'policy change activated',
  );
  return {
    action_id: actionId,
    revision,
    proposed_by: approval.requested_by,
    ended_shadow: endedShadow,
    activated: true,
  };
}

export type PolicyChangeEndpoint = 'proposePolicy' | 'activatePolicy';

/** `policy.propose.<identity>` and `policy.activate`. */
export function policyChangeHandlers(deps: PolicyChangeDeps): EndpointHandlers<PolicyChangeEndpoint> {
  return {
    async proposePolicy(request, { actor }) {
      // startService sets the actor on every actor-bound subject; never trust a missing one.
      if (actor === undefined) throw refusal('identity_required', 'send to policy.propose.<your identity>');
      return proposeChange(deps, request, actor);
    },
    async activatePolicy(request) {
      return activateChange(deps, request.action_id);
    },
  };
}
