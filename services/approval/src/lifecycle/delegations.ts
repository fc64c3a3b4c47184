/**
 * Delegation: a person hands their approvals (all, or those needing one role) to another person
 * for a period. Managing them (delegate, undelegate, list) is here; whether a delegation lets a
 * vote through is the policy's answer (authorize.rego), asked with the grants in force that
 * {@link grantsInForce} finds. Every change writes a delegation event in the same transaction.
 *
 * No chains: the policy checks the delegator's own directory roles, so a delegate who delegates
 * in turn passes on only what the directory gives them, never what they hold by delegation.
 */

import { randomUUID } from 'node:crypto';
import {
  CountersignError,
  type DelegateRequest,
  type Delegation,
  type DelegationGrant,
  type ListDelegationsRequest,
  type ListDelegationsResponse,
  MAX_DELEGATION_SECONDS,
  type UndelegateRequest,
} from '@countersign/contracts';
import { query, withTransaction } from '@countersign/runtime';
import type pg from 'pg';
import { iso } from '../records.js';
import { transactionNow } from './clock.js';
import type { LifecycleDeps } from './deps.js';
import { knownPrincipal } from './identities.js';

interface DelegationRow {
  id: string;
  delegator: string;
  delegate: string;
  role: string | null;
  starts_at: Date;
  ends_at: Date;
  created_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const COLUMNS = 'id, delegator, delegate, role, starts_at, ends_at, created_at, revoked_at, revoked_by';

function toDelegation(row: DelegationRow): Delegation {
  return {
    id: row.id,
    delegator: row.delegator,
    delegate: row.delegate,
    role: row.role,
    starts_at: iso(row.starts_at),
    ends_at: iso(row.ends_at),
    created_at: iso(row.created_at),
    revoked_at: row.revoked_at ? iso(row.revoked_at) : null,
    revoked_by: row.revoked_by,
  };
}

function refusal(code: string, message: string): CountersignError {
  return new CountersignError('forbidden', message, { reasons: [{ code, message }] });
}

function invalidPeriod(path: string, message: string): CountersignError {
  return new CountersignError('invalid_request', `invalid request: ${path} ${message}`, {
    fields: [{ path, message }],
  });
}

/** A person the directory knows, or `forbidden` (`not_a_person`): only people delegate and receive. */
function person(deps: Pick<LifecycleDeps, 'directory'>, identity: string, what: string): void {
  const principal = knownPrincipal(deps, identity);
  if (principal.kind !== 'person') {
    throw refusal('not_a_person', `${identity} is a requesting system: only people ${what} approvals`);
  }
}

async function appendEvent(
  client: pg.PoolClient,
  delegation: Delegation,
  event: 'delegated' | 'revoked',
  actor: string,
  at: Date,
): Promise<void> {
  await query(
    client,
    'insert into approval.delegation_events (delegation_id, event, actor, data, at) values ($1, $2, $3, $4, $5)',
    [delegation.id, event, actor, JSON.stringify(delegation), iso(at)],
  );
}

/** `actor` hands their approvals to `request.delegate` for the period asked. */
export async function delegate(
  deps: LifecycleDeps,
  request: DelegateRequest,
  actor: string,
): Promise<Delegation> {
  person(deps, actor, 'delegate');
  person(deps, request.delegate, 'receive');
  if (request.delegate === actor) throw refusal('self_delegation', `${actor} cannot delegate to themselves`);
  if (request.role !== undefined && !deps.directory().rolesOf(actor).includes(request.role)) {
    // Only roles the directory gives the delegator: what one holds by delegation is not passed on.
    throw refusal('role_not_held', `${actor} does not hold the role ${request.role} and cannot delegate it`);
  }
  const created = await withTransaction(deps.pool, async (client) => {
    const now = await transactionNow(client);
    const starts = request.starts_at ? new Date(request.starts_at) : now;
    const ends = new Date(request.ends_at);
    if (ends.getTime() <= starts.getTime()) throw invalidPeriod('ends_at', 'must be after starts_at');
    if (ends.getTime() <= now.getTime()) throw invalidPeriod('ends_at', 'must be in the future');
    if (ends.getTime() - starts.getTime() > MAX_DELEGATION_SECONDS * 1000) {
      throw invalidPeriod('ends_at', `must be at most ${MAX_DELEGATION_SECONDS} seconds after starts_at`);
    }
    const inserted = await query<DelegationRow>(
      client,
      `insert into approval.delegations (id, delegator, delegate, role, starts_at, ends_at, created_at)
       values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
      [randomUUID(), actor, request.delegate, request.role ?? null, iso(starts), iso(ends), iso(now)],
    );
    const delegation = toDelegation(inserted.rows[0] as DelegationRow);
    await appendEvent(client, delegation, 'delegated', actor, now);
    return delegation;
  });
  deps.logger.info(
    { delegation_id: created.id, delegator: actor, delegate: created.delegate, role: created.role },
    'delegation created',
  );
  return created;
}

/** Ends a delegation now: its delegator or its delegate may. Revoking twice is refused. */
export async function undelegate(
  deps: LifecycleDeps,
  request: UndelegateRequest,
  actor: string,
): Promise<Delegation> {
  knownPrincipal(deps, actor);
  const revoked = await withTransaction(deps.pool, async (client) => {
    const found = await query<DelegationRow>(
      client,
      `select ${COLUMNS} from approval.delegations where id = $1 for update`,
      [request.id],
    );
    const row = found.rows[0];
    // A stranger learns nothing about other people's delegations: not found either way.
    if (!row || (row.delegator !== actor && row.delegate !== actor)) {
      throw new CountersignError('not_found', `no delegation ${request.id} of ${actor}`, { id: request.id });
    }
    if (row.revoked_at) {
      throw new CountersignError('already_decided', `delegation ${request.id} is already revoked`, {
        id: request.id,
      });
    }
    const now = await transactionNow(client);
    const updated = await query<DelegationRow>(
      client,
      `update approval.delegations set revoked_at = $2, revoked_by = $3 where id = $1 returning ${COLUMNS}`,
      [request.id, iso(now), actor],
    );
    const delegation = toDelegation(updated.rows[0] as DelegationRow);
    await appendEvent(client, delegation, 'revoked', actor, now);
    return delegation;
  });
  deps.logger.info({ delegation_id: revoked.id, revoked_by: actor }, 'delegation revoked');
  return revoked;
}

/** Delegations, newest first: a person's (given or received) or everyone's; `active`: in force now. */
export async function listDelegations(
  pool: pg.Pool,
  request: ListDelegationsRequest,
): Promise<ListDelegationsResponse> {
  const result = await query<DelegationRow>(
    pool,
    `select ${COLUMNS} from approval.delegations
      where ($1::text is null or delegator = $1 or delegate = $1)
        and (not $2 or (revoked_at is null and starts_at <= now() and ends_at > now()))
      order by created_at desc, id limit 500`,
    [request.person ?? null, request.active],
  );
  return { items: result.rows.map(toDelegation) };
}

/**
 * The delegations from `delegator` to `delegateId` in force at the database's now: what the
 * policy is asked with, and checked again under the approval's row lock before the vote is written
 * (a revocation committed in between must not let the vote through).
 */
export async function grantsInForce(
  db: pg.Pool | pg.PoolClient,
  delegateId: string,
  delegator: string,
): Promise<DelegationGrant[]> {
  const result = await query<{ delegator: string; role: string | null }>(
    db,
    `select delegator, role from approval.delegations
      where delegate = $1 and delegator = $2 and revoked_at is null and starts_at <= now() and ends_at > now()
      order by role nulls first limit 64`,
    [delegateId, delegator],
    'approval-grants-in-force',
  );
  return result.rows;
}
