/**
 * Benchmark fixtures written straight into the approval schema with `insert ... select
 * generate_series`: a year's worth of approvals in seconds, not through the intake. Not a test
 * fixture: nothing checks these rows beyond what the service reads back.
 */
import { sql } from './system.js';

export const ACTION_TYPES = [
  'payment',
  'deploy',
  'report_export',
  'refund',
  'user_delete',
  'transfer',
  'database_modification',
  'api_key_create',
  'code_execution',
  'create_billing',
];
export const REQUESTERS = Array.from({ length: 20 }, (_, i) =>
  i < 5 ? ['dave', 'ci-bot', 'erin', 'bob', 'billing-job'][i] : `service-${i}`,
) as string[];

const policyJson = (outcome: string) =>
  `jsonb_build_object('outcome', ${outcome}, 'reasons', '[]'::jsonb, 'risk', 'low', 'required_approvals', 1,
     'approver_roles', '[]'::jsonb, 'timeout_seconds', 3600, 'notify', '[]'::jsonb, 'revision', 'sha256:bench',
     'decision_id', md5(n::text))`;

/**
 * `count` approvals with ids `<prefix>-<n>`, one every few seconds over the last 90 days, newest
 * last. By n % 100: 75 % auto-approved, 5 % approved and 5 % rejected by people (with their
 * vote), 3 % denied and 2 % invalid (rejected at once), 8 % expired, 2 % cancelled; those for
 * people created in the last two hours are still pending (a hundred or so in a million, as a
 * steady flow leaves them). Ten action types, twenty requesters, runs of ten; a requested
 * audit event and, when decided, a decision event.
 */
export async function loadApprovals(databaseUrl: string, prefix: string, count: number): Promise<void> {
  const types = `array[${ACTION_TYPES.map((t) => `'${t}'`).join(',')}]`;
  const people = `array[${REQUESTERS.map((r) => `'${r}'`).join(',')}]`;
  // The last two hours of the 90 days.
  const recent = count - Math.ceil(count / (45 * 24));
  // One transaction: the running service must never see an approval without its audit events
  // (its expiry loop would start the chain itself).
  await sql(
    databaseUrl,
    'begin',
    `create temporary table bulk as
     select n, action_id, action_type, requested_by, bucket, created_at,
            case when bucket between 70 and 79 and n > ${recent} then 'pending'
                 when bucket < 75 or bucket >= 95 then 'approved' when bucket < 85 then 'rejected'
                 when bucket < 93 then 'expired' else 'cancelled' end as status,
            case when bucket < 70 or bucket >= 95 or bucket between 80 and 84 then 'at_once'
                 when bucket < 80 then 'people' when bucket < 93 then 'expired' else 'cancelled' end as path
       from (select n, '${prefix}-' || n as action_id, n % 100 as bucket,
                    -- n / 100 mixes in: by n alone, type and requester would follow the bucket.
                    (${types})[1 + (n / 100 + n * 7) % ${ACTION_TYPES.length}] as action_type,
                    (${people})[1 + (n / 100 * 3 + n) % ${REQUESTERS.length}] as requested_by,
                    now() - make_interval(secs => (${count} - n) * (90 * 86400.0 / ${count})) as created_at
               from generate_series(1, ${count}) as n) s`,
    `insert into approval.approvals (action_id, action_type, description, context, requested_by, run_id,
        request_hash, status, policy, required_approvals, created_at, expires_at, decided_at, decided_by,
        decision_reason)
     select action_id, action_type, 'Benchmark approval ' || n,
            jsonb_build_object('amount', n % 5000, 'currency', 'EUR', 'resource', 'invoice/' || n),
            requested_by, 'run-' || (n / 10), md5(action_id) || md5(action_id), status,
            ${policyJson("case when bucket < 70 or bucket >= 95 then 'auto_approve' when bucket between 80 and 82 then 'deny' else 'needs_approval' end")},
            1, created_at, case when status = 'pending' then now() + interval '2 hours' else created_at + interval '2 hours' end,
            case when status = 'pending' then null when path = 'at_once' then created_at
                 when path = 'expired' then created_at + interval '2 hours'
                 else created_at + interval '10 minutes' end,
            case when status = 'pending' then null
                 when path = 'at_once' then (case when bucket between 83 and 84 then 'countersign' else 'policy' end)
                 when path = 'people' then (case when bucket < 75 then 'frank' else 'alice' end)
                 when path = 'expired' then 'countersign' else 'system' end,
            case when status <> 'pending' then 'benchmark decision' end
       from bulk`,
    `insert into approval.votes (action_id, voter, approved, reason, at)
     select action_id, case when bucket < 75 then 'frank' else 'alice' end, bucket < 75, 'checked',
            created_at + interval '10 minutes'
       from bulk where path = 'people' and status <> 'pending'`,
    // Hashes that look like the service's (these chains verify under no key: they are load, not
    // history), with a key id, as the table requires of every new row.
    `insert into approval.audit_events (action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id)
     select action_id, 1, 'requested', requested_by, null, '{}'::jsonb, created_at, repeat('0', 64),
            md5(action_id || '1') || md5(action_id || '1b'), 'bench'
       from bulk
     union all
     select action_id, 2, status, 'policy', null, '{}'::jsonb, created_at,
            md5(action_id || '1') || md5(action_id || '1b'), md5(action_id || '2') || md5(action_id || '2b'), 'bench'
       from bulk where status <> 'pending'`,
    'drop table bulk',
    'commit',
    'analyze approval.approvals',
    'analyze approval.votes',
    'analyze approval.audit_events',
  );
}

/**
 * `count` pending approvals `<prefix>-<n>` that all fall due at `dueAt`, with their requested
 * audit event and their pending event already published (as the intake would have left them).
 */
export async function loadDueApprovals(
  databaseUrl: string,
  prefix: string,
  count: number,
  dueAt: Date,
): Promise<void> {
  const due = `'${dueAt.toISOString()}'::timestamptz`;
  await sql(
    databaseUrl,
    'begin',
    `insert into approval.approvals (action_id, action_type, description, context, requested_by, run_id,
        request_hash, status, policy, required_approvals, created_at, expires_at)
     select '${prefix}-' || n, 'deploy', 'Deploy build ' || n || ' to production',
            jsonb_build_object('environment', 'production'), 'ci-bot', 'run-exp-' || (n / 100),
            md5(n::text) || md5(n::text), 'pending', ${policyJson("'needs_approval'")}, 1,
            ${due} - interval '1 hour', ${due}
       from generate_series(1, ${count}) as n`,
    `insert into approval.audit_events (action_id, seq, event, actor, reason, data, at, prev_hash, hash, key_id)
     select '${prefix}-' || n, 1, 'requested', 'ci-bot', null, '{}'::jsonb, ${due} - interval '1 hour',
            repeat('0', 64), md5(n::text || 'a') || md5(n::text || 'b'), 'bench'
       from generate_series(1, ${count}) as n`,
    `insert into approval.outbox (action_id, kind, subject, payload, created_at, published_at)
     select '${prefix}-' || n, 'pending', 'approval.pending.${prefix}-' || n, '{}'::jsonb,
            ${due} - interval '1 hour', ${due} - interval '1 hour'
       from generate_series(1, ${count}) as n`,
    'commit',
    'analyze approval.approvals',
  );
}
