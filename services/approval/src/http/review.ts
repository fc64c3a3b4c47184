/**
 * One-click review links from emails and chat: `GET /approvals/{id}/review?token=…` shows what is
 * being decided and changes nothing (mail scanners open every link); the page's form POSTs the
 * vote. The token (minted by the notifier, see @countersign/runtime review-link) is bound to one
 * approval and one approver and expires with the approval; its nonce is burnt in the vote's own
 * transaction, so a link decides at most once and a refused vote leaves it unspent. The form
 * carries a CSRF token derived from the nonce, so only a page this server rendered can post it.
 */
import { type ApprovalWithHistory, CountersignError, DecideRequest, parseWith } from '@countersign/contracts';
import {
  deriveKey,
  query,
  type ReviewClaims,
  ReviewTokenInvalid,
  verifyReviewToken,
} from '@countersign/runtime';
import type pg from 'pg';
import { decide } from '../lifecycle/index.js';
import { getApproval } from '../queries.js';
import type { HttpApp, RequestContext, Route } from './app.js';
import { fromThisOrigin, hmac, sameSecret } from './auth.js';
import { html, type SafeHtml } from './html.js';
import { readForm, sendHtml } from './io.js';
import {
  approvalFacts,
  contextTable,
  decisionForm,
  messagePage,
  page,
  policyPanel,
  votesList,
} from './views.js';

/** Refused after the link did its one job. */
export class ReviewLinkUsed extends CountersignError {
  constructor(actionId: string) {
    super('already_decided', 'this review link was already used', {
      action_id: actionId,
      reason: 'link_used',
    });
    this.name = 'ReviewLinkUsed';
  }
}

/** Whether a token's nonce was spent. */
export async function nonceUsed(db: pg.Pool | pg.PoolClient, nonce: string): Promise<boolean> {
  const result = await query(db, 'select 1 from approval.used_review_tokens where nonce = $1', [nonce]);
  return (result.rowCount ?? 0) > 0;
}

/** Spends the nonce inside the vote's transaction; a second spend throws and rolls back its vote. */
export async function burnNonce(client: pg.PoolClient, claims: ReviewClaims): Promise<void> {
  const inserted = await query(
    client,
    `insert into approval.used_review_tokens (nonce, action_id, approver, expires_at)
     values ($1, $2, $3, to_timestamp($4)) on conflict (nonce) do nothing returning nonce`,
    [claims.n, claims.a, claims.v, claims.e],
  );
  if (inserted.rowCount === 0) throw new ReviewLinkUsed(claims.a);
}

const TOKEN_PAGES: Record<ReviewTokenInvalid['reason'], { status: number; title: string; message: string }> =
  {
    malformed: {
      status: 400,
      title: 'This review link is not valid',
      message: 'The link is incomplete or was changed. Open it again from the original message.',
    },
    bad_signature: {
      status: 400,
      title: 'This review link is not valid',
      message: 'The link is incomplete or was changed. Open it again from the original message.',
    },
    wrong_approval: {
      status: 400,
      title: 'This review link is for another approval',
      message: 'The link does not belong to this approval. Open it again from the original message.',
    },
    expired: {
      status: 410,
      title: 'This review link has expired',
      message: 'The approval it was sent for is past its deadline; nothing can be decided with it anymore.',
    },
  };

type Verified = { ok: true; claims: ReviewClaims } | { ok: false; status: number; page: SafeHtml };

export function reviewRoutes(app: HttpApp): Route[] {
  const secret = app.settings.reviewLinkSecret;
  const csrfKey = deriveKey(secret, 'review-csrf');
  const csrfFor = (claims: ReviewClaims) => hmac(csrfKey, `${claims.a}.${claims.v}.${claims.n}`);
  const path = '/approvals/:action_id/review';
  const actionOf = (ctx: RequestContext) => ctx.params.action_id as string;

  const verify = (token: string | null, actionId: string): Verified => {
    try {
      return { ok: true, claims: verifyReviewToken(secret, token ?? '', actionId) };
    } catch (err) {
      if (!(err instanceof ReviewTokenInvalid)) throw err;
      const info = TOKEN_PAGES[err.reason];
      return { ok: false, status: info.status, page: messagePage(info.title, info.message) };
    }
  };

  const usedPage = (approval: ApprovalWithHistory | undefined) =>
    messagePage(
      'This review link was already used',
      'Each link decides once. Nothing was changed.',
      approval ? approvalFacts(approval) : null,
    );

  /** The page for a link that can no longer vote (decided, expired, already voted), or null. */
  const closedPage = (
    approval: ApprovalWithHistory,
    claims: ReviewClaims,
  ): { status: number; page: SafeHtml } | null => {
    if (approval.status !== 'pending') {
      return {
        status: approval.status === 'expired' ? 410 : 409,
        page: messagePage(
          `This approval is already ${approval.status}`,
          'There is nothing left to decide. Nothing was changed.',
          approvalFacts(approval),
        ),
      };
    }
    if (Date.parse(approval.expires_at) <= Date.now()) {
      return {
        status: 410,
        page: messagePage(
          'This approval has expired',
          'Its deadline has passed. Nothing was changed.',
          approvalFacts(approval),
        ),
      };
    }
    if (approval.votes.some((v) => v.voter === claims.v)) {
      return {
        status: 409,
        page: messagePage(
          'You already voted on this approval',
          `${claims.v} has a vote recorded; each approver votes once.`,
          votesList(approval.votes, approval.required_approvals),
        ),
      };
    }
    return null;
  };

  const reviewPage = (approval: ApprovalWithHistory, claims: ReviewClaims, token: string): SafeHtml =>
    page({
      title: `Review ${approval.action_id}`,
      body: html`<section class="card review">
        <p class="eyebrow">Approval requested by <strong>${approval.requested_by}</strong> · you are deciding as
          <strong>${claims.v}</strong></p>
        <h1>${approval.action_type}</h1>
        <p class="description">${approval.description}</p>
        ${approvalFacts(approval)}
        <h2>Context</h2>
        ${contextTable(approval.context)}
        <h2>Why it needs approval</h2>
        ${policyPanel(approval.policy)}
        <h2>Votes so far</h2>
        ${votesList(approval.votes, approval.required_approvals)}
        <h2>Your decision</h2>
        ${decisionForm(`/approvals/${encodeURIComponent(approval.action_id)}/review`, {
          token,
          csrf: csrfFor(claims),
        })}
      </section>`,
    });

  return [
    {
      method: 'GET',
      path,
      name: 'review_page',
      kind: 'page',
      // Reads only: a GET or HEAD never votes and never spends the link.
      handle: async (ctx) => {
        const token = ctx.url.searchParams.get('token');
        const verified = verify(token, actionOf(ctx));
        if (!verified.ok) return sendHtml(ctx.res, verified.status, verified.page);
        const approval = await getApproval(app.deps.pool, actionOf(ctx));
        if (await nonceUsed(app.deps.pool, verified.claims.n))
          return sendHtml(ctx.res, 409, usedPage(approval));
        const closed = closedPage(approval, verified.claims);
        if (closed) return sendHtml(ctx.res, closed.status, closed.page);
        sendHtml(ctx.res, 200, reviewPage(approval, verified.claims, token as string));
      },
    },
    {
      method: 'POST',
      path,
      name: 'review_decide',
      kind: 'page',
      handle: async (ctx) => {
        if (!fromThisOrigin(ctx.req, app.publicOrigin)) {
          return sendHtml(
            ctx.res,
            403,
            messagePage(
              'Request refused',
              'This form can only be sent from its own page. Nothing was changed.',
            ),
          );
        }
        const form = await readForm(ctx.req, ctx.res, app.settings.bodyLimit);
        const verified = verify(form.get('token'), actionOf(ctx));
        if (!verified.ok) return sendHtml(ctx.res, verified.status, verified.page);
        const { claims } = verified;
        const csrf = form.get('csrf');
        if (csrf === null || !sameSecret(csrf, csrfFor(claims))) {
          return sendHtml(
            ctx.res,
            403,
            messagePage(
              'Request refused',
              'The form is missing its security token. Open the review link again and decide from there. Nothing was changed.',
            ),
          );
        }
        // The link names its approver; the directory in force must still list them (someone
        // removed after the mail went out cannot use the link).
        if (!app.directory().get(claims.v)) {
          return sendHtml(
            ctx.res,
            403,
            messagePage(
              'Not in the directory',
              `${claims.v} is not in Countersign's directory (unknown_identity). Nothing was changed.`,
            ),
          );
        }
        const decision = form.get('decision');
        if (decision !== 'approve' && decision !== 'reject') {
          return sendHtml(ctx.res, 400, messagePage('Choose Approve or Reject', 'Nothing was changed.'));
        }
        // A used link is refused before asking the policy; the burn below is what guarantees it.
        if (await nonceUsed(app.deps.pool, claims.n)) {
          return sendHtml(
            ctx.res,
            409,
            usedPage(await getApproval(app.deps.pool, claims.a).catch(() => undefined)),
          );
        }
        const reason = form.get('reason')?.trim();
        const request = parseWith(DecideRequest, {
          action_id: claims.a,
          approved: decision === 'approve',
          decided_by: claims.v,
          ...(reason ? { reason } : {}),
        });
        let approval: Awaited<ReturnType<typeof decide>>;
        try {
          approval = await decide(app.deps, request, claims.v, {
            inTransaction: (client) => burnNonce(client, claims),
          });
        } catch (err) {
          if (err instanceof ReviewLinkUsed) {
            return sendHtml(
              ctx.res,
              409,
              usedPage(await getApproval(app.deps.pool, claims.a).catch(() => undefined)),
            );
          }
          throw err;
        }
        const verb = request.approved ? 'approved' : 'rejected';
        sendHtml(
          ctx.res,
          200,
          messagePage(
            `You ${verb} ${approval.action_id}`,
            approval.status === 'pending'
              ? 'Your vote is recorded; the approval waits for more approvers.'
              : `The approval is now ${approval.status}.`,
            html`${approvalFacts(approval)}${votesList(approval.votes, approval.required_approvals)}`,
          ),
        );
      },
    },
  ];
}
