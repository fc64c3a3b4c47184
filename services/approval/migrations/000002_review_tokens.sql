-- Single-use review links. A review-link token is signed, not stored; what makes it single use
-- is this record of its nonce, inserted in the same transaction as the vote it cast (see
-- src/http/review.ts): the link is spent exactly when its vote is recorded.
create table approval.used_review_tokens (
  nonce      text primary key,
  action_id  text not null references approval.approvals (action_id),
  approver   text not null,
  -- The token's own expiry: rows past it can never be presented again and may be pruned.
  expires_at timestamptz not null,
  used_at    timestamptz not null default now()
);

create index used_review_tokens_action on approval.used_review_tokens (action_id);

-- A spent link never becomes unspent.
create trigger used_review_tokens_no_update before update on approval.used_review_tokens
  for each row execute function approval.refuse_change();
