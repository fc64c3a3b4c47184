-- Dashboard sign-outs. A session cookie is signed, not stored, so it stays valid until its
-- expiry wherever a copy of it is kept; what ends it earlier is this record of its session id
-- (see src/http/sign-outs.ts), checked on every request that presents the cookie. Rows past
-- their expiry can never match a valid cookie again and are pruned on later sign-outs.
create table approval.signed_out_sessions (
  session_id    text primary key,
  expires_at    timestamptz not null,
  signed_out_at timestamptz not null default now()
);

create index signed_out_sessions_expiry on approval.signed_out_sessions (expires_at);
