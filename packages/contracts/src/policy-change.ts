/**
 * Policy changes as approvals (`pnpm policy publish`, `promote`, `activate`). A person proposes a
 * bundle on `policy.propose.<identity>`, a subject only that person's NATS user may publish, so
 * the proposer is who the credential proves. The policy service checks the bundle as a replica
 * does, keeps it aside and answers the `policy_change` approval request to file; the person files
 * it on `approval.submit.<identity>` (the approval service sees them as the requester, as for any
 * request). `policy.activate` puts an approved change live once the approval's `request_hash` is
 * the one the proposal recorded, so neither the requester nor the context an approver judged can
 * be swapped in between.
 */
import { z } from 'zod';
import { Identity } from './identity.js';
import { ActionId, Timestamp } from './schemas.js';

/**
 * Largest message `policy.propose` decodes: the base64 bundle and its fields. nats-server's
 * `max_payload` (1 MiB by default) usually refuses a message before this does; the CLI checks
 * the server's limit first and says so.
 */
export const MAX_PROPOSAL_BYTES = 8 * 1024 * 1024;

export const ProposePolicyRequest = z
  .strictObject({
    /** The bundle (`opa build` .tar.gz), base64: exactly one of `bundle` and `shadow`. */
    bundle: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')
      .optional(),
    /** Propose the shadow bundle the bucket holds (`pnpm policy promote`): once live, the shadow ends. */
    shadow: z.literal(true).optional(),
    /**
     * Ask for break-glass: the live policy auto-approves it only for the identities it names
     * (critical risk, security notified); for anyone else it is an ordinary policy change.
     */
    break_glass: z.boolean().default(false),
    /** May repeat the proposer (the subject's identity); naming someone else is `actor_mismatch`. */
    requested_by: Identity.optional(),
    /** Replay the stored requests recorded at or after this instant. Default: the last 7 days. */
    replay_since: Timestamp.optional(),
  })
  .refine((r) => (r.bundle === undefined) !== (r.shadow === undefined), {
    message: 'give exactly one of bundle and shadow',
    path: ['bundle'],
  });
export type ProposePolicyRequest = z.infer<typeof ProposePolicyRequest>;

/** A checked candidate waiting for its approval, and the approval request to file for it. */
export const PolicyProposal = z.object({
  /** The candidate's revision. */
  revision: z.string().min(1),
  /** The revision the proposing replica serves now. */
  live_revision: z.string().min(1),
  /** Why the candidate is less guarded than it should be (e.g. it carries no golden cases). */
  warnings: z.array(z.string()),
  /**
   * The `policy_change` request to submit, unchanged, on `approval.submit.<proposer>`: its
   * `request_hash` is recorded with the candidate, and `policy.activate` refuses any other.
   * (An ApprovalRequest as parsed: canonical `requested_by`, defaults applied.)
   */
  request: z.object({
    action_id: ActionId,
    action_type: z.literal('policy_change'),
    description: z.string(),
    context: z.record(z.string(), z.unknown()),
    requested_by: z.string(),
  }),
});
export type PolicyProposal = z.infer<typeof PolicyProposal>;

export const ActivatePolicyRequest = z.strictObject({
  /** The approval `pnpm policy publish` (or `promote`) filed. */
  action_id: ActionId,
});
export type ActivatePolicyRequest = z.infer<typeof ActivatePolicyRequest>;

export const PolicyActivation = z.object({
  action_id: ActionId,
  /** The revision now in the bucket as the live bundle; every replica loads it. */
  revision: z.string().min(1),
  /** Who proposed it (the approval's requester). */
  proposed_by: z.string().min(1),
  /** True when it was the shadow's revision and the shadow has ended. */
  ended_shadow: z.boolean(),
  /** False when this approval had already put it live (activate is idempotent). */
  activated: z.boolean(),
});
export type PolicyActivation = z.infer<typeof PolicyActivation>;
