/**
 * Model-based test of the approval state machine: random sequences of submissions, decisions by
 * the people of the test directory, cancels and expiries run against the real services and
 * against a small reference model of the rules (policy outcomes, who may decide, votes,
 * terminal states, deadlines); after every step both must agree. Seeds are printed on failure;
 * FC_SEED=<seed> replays one.
 */
import { readFileSync } from 'node:fs';
import { type Approval, type ApprovalRequestInput, CountersignError, Subjects } from '@countersign/contracts';
import { Directory } from '@countersign/runtime';
import { TEST_DIRECTORY_FILE, waitUntil } from '@countersign/test-fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { call, eventCounts, startSystem } from '../support.js';
import { runs } from './arbitraries.js';

const sys = await startSystem('model');

/** The people of the directory the services run with, and their roles (dave holds none). */
const DIRECTORY = Directory.parse(readFileSync(TEST_DIRECTORY_FILE, 'utf8'));
const ROLES: Record<string, readonly string[]> = Object.fromEntries(
  DIRECTORY.principals()
    .filter((p) => p.kind === 'person')
    .map((p) => [p.id, p.roles]),
);
const PEOPLE = Object.keys(ROLES);

type Kind = 'auto' | 'deny' | 'single' | 'dual' | 'bypass' | 'self' | 'deploy' | 'short';

/** What each kind of request is, and what the default policy makes of it. */
const KINDS: Record<
  Kind,
  {
    request: Partial<ApprovalRequestInput>;
    roles: string[];
    required: number;
    auto?: 'approved' | 'rejected';
  }
> = {
  auto: { request: { context: { amount: 10 } }, roles: [], required: 1, auto: 'approved' },
  deny: { request: { context: { amount: 2_000_000 } }, roles: [], required: 1, auto: 'rejected' },
  single: { request: { context: { amount: 1500 } }, roles: ['finance'], required: 1 },
  dual: { request: { context: { amount: 20_000 } }, roles: ['finance'], required: 2 },
  bypass: {
    request: { requested_by: 'carol', context: { amount: 1500 } },
    roles: [],
    required: 1,
    auto: 'approved',
  },
  self: { request: { requested_by: 'alice', context: { amount: 1500 } }, roles: ['finance'], required: 1 },
  deploy: {
    request: { action_type: 'deploy', context: { environment: 'production' } },
    roles: ['ops'],
    required: 1,
  },
  short: { request: { context: { amount: 1500 }, timeout_seconds: 1 }, roles: ['finance'], required: 1 },
};

interface ModelApproval {
  id: string;
  requester: string;
  roles: string[];
  required: number;
  status: Approval['status'];
  decidedBy: string | null;
  votes: Map<string, boolean>;
  expiresAt: number;
}

interface Model {
  approvals: ModelApproval[];
}

interface Real {
  prefix: string;
  count: number;
}

/** Near a deadline the outcome depends on milliseconds: either side is accepted, then followed. */
const MARGIN_MS = 700;
type Due = 'before' | 'after' | 'either';
const due = (a: ModelApproval): Due => {
  const now = Date.now();
  if (now < a.expiresAt - MARGIN_MS) return 'before';
  return now > a.expiresAt + MARGIN_MS ? 'after' : 'either';
};

/** The outcome the model predicts for a command on a pending approval past its deadline. */
function expireIn(a: ModelApproval): void {
  a.status = 'expired';
  a.decidedBy = 'countersign';
}

/** Runs a command against the system, as the outcome code or the approval it answered. */
async function attempt(run: () => Promise<Approval>): Promise<Approval | string> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CountersignError) return err.code;
    throw err;
  }
}

/** The system's record agrees with the model's. */
function agree(a: ModelApproval, real: Approval): void {
  expect({ status: real.status, decided_by: real.decided_by }).toEqual({
    status: a.status,
    decided_by: a.decidedBy,
  });
  expect(Object.fromEntries(real.votes.map((v) => [v.voter, v.approved]))).toEqual(
    Object.fromEntries(a.votes),
  );
}

class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly kind: Kind) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const spec = KINDS[this.kind];
    const id = `${real.prefix}-${++real.count}-${this.kind}`;
    const request: ApprovalRequestInput = {
      action_id: id,
      action_type: 'payment',
      description: `model ${this.kind}`,
      requested_by: 'dave',
      ...spec.request,
    };
    const approval = await call(sys.nc, 'submit', request);
    const a: ModelApproval = {
      id,
      requester: request.requested_by,
      roles: spec.roles,
      required: spec.required,
      status: spec.auto ?? 'pending',
      decidedBy: spec.auto ? 'policy' : null,
      votes: new Map(),
      expiresAt: Date.parse(approval.expires_at),
    };
    model.approvals.push(a);
    agree(a, approval);
    if (!spec.auto) {
      expect(approval.policy.approver_roles).toEqual(spec.roles);
      expect(approval.required_approvals).toBe(spec.required);
    }
  }
  toString = () => `submit(${this.kind})`;
}

class Decide implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly user: string,
    readonly approved: boolean,
  ) {}
  check = (model: Readonly<Model>) => model.approvals.length > 0;
  async run(model: Model) {
    const a = model.approvals[this.pick % model.approvals.length] as ModelApproval;
    const when = a.status === 'pending' ? due(a) : 'before';
    const reply = await attempt(() =>
      call(sys.nc, 'decide', { action_id: a.id, decided_by: this.user, approved: this.approved }),
    );
    if (when === 'either' && reply === 'expired') expireIn(a);
    else if (when === 'after') {
      expect(reply).toBe('expired');
      expireIn(a);
    } else {
      // The model's outcome, not the reply, is the expectation: a counted vote must come back
      // as the approval (then checked against the model below), a refusal as the model's code.
      expect(typeof reply === 'string' ? reply : COUNTED).toBe(applyVote(a, this.user, this.approved));
    }
    if (typeof reply !== 'string') agree(a, reply);
  }
  toString = () => `decide(#${this.pick}, ${this.user}, ${this.approved})`;
}

/** What the model expects when a vote counts: the system answers with the approval. */
const COUNTED = 'counted';

/**
 * The model's rules for a vote on an approval that is not past its deadline: returns what the
 * system must answer (an error code, or {@link COUNTED} when the vote counts) and updates the
 * model.
 */
function applyVote(a: ModelApproval, user: string, approved: boolean): string {
  if (a.status === 'expired') return 'expired';
  if (a.status !== 'pending') return 'already_decided';
  const forbidden =
    a.votes.has(user) ||
    user === a.requester ||
    (a.roles.length > 0 && !a.roles.some((r) => ROLES[user]?.includes(r)));
  if (forbidden) return 'forbidden';
  a.votes.set(user, approved);
  if (!approved) {
    a.status = 'rejected';
    a.decidedBy = user;
  } else if ([...a.votes.values()].filter(Boolean).length >= a.required) {
    a.status = 'approved';
    a.decidedBy = user;
  }
  return COUNTED;
}

class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (model: Readonly<Model>) => model.approvals.length > 0;
  async run(model: Model) {
    const a = model.approvals[this.pick % model.approvals.length] as ModelApproval;
    const when = a.status === 'pending' ? due(a) : 'before';
    // The requester may always cancel its own request (the policy's cancel rule).
    const reply = await attempt(() => call(sys.nc, 'cancel', { action_id: a.id, cancelled_by: a.requester }));
    if ((when === 'either' && reply === 'expired') || when === 'after') {
      expect(reply).toBe('expired');
      expireIn(a);
    } else if (a.status === 'pending') {
      a.status = 'cancelled';
      a.decidedBy = 'dave';
      expect(typeof reply === 'string' ? reply : reply.status).toBe('cancelled');
    } else {
      expect(reply).toBe(a.status === 'expired' ? 'expired' : 'already_decided');
    }
    if (typeof reply !== 'string') agree(a, reply);
  }
  toString = () => `cancel(#${this.pick})`;
}

/** Time passes: every pending approval past its deadline is expired by the service's sweep. */
class Expire implements fc.AsyncCommand<Model, Real> {
  check = (model: Readonly<Model>) =>
    model.approvals.some((a) => a.status === 'pending' && a.expiresAt < Date.now() + 2_000);
  async run(model: Model) {
    const overdue = model.approvals.filter((a) => a.status === 'pending' && a.expiresAt < Date.now() + 2_000);
    for (const a of overdue) {
      const real = await waitUntil(
        async () => {
          const got = await call(sys.nc, 'get', { action_id: a.id });
          return got.status === 'expired' && got;
        },
        { timeout: 5_000, message: `${a.id} to expire` },
      );
      expireIn(a);
      agree(a, real);
    }
  }
  toString = () => 'expire()';
}

class Get implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = (model: Readonly<Model>) => model.approvals.length > 0;
  async run(model: Model) {
    const a = model.approvals[this.pick % model.approvals.length] as ModelApproval;
    const real = await call(sys.nc, 'get', { action_id: a.id });
    // A pending approval may have been expired by the sweep in the meantime.
    if (a.status === 'pending' && real.status === 'expired' && due(a) !== 'before') expireIn(a);
    agree(a, real);
  }
  toString = () => `get(#${this.pick})`;
}

const kinds = fc.constantFrom<Kind>(
  'auto',
  'deny',
  'single',
  'single',
  'dual',
  'dual',
  'bypass',
  'self',
  'deploy',
  'short',
);
const commands = [
  kinds.map((k) => new Submit(k)),
  kinds.map((k) => new Submit(k)),
  fc.tuple(fc.nat(), fc.constantFrom(...PEOPLE), fc.boolean()).map(([p, u, b]) => new Decide(p, u, b)),
  fc
    .tuple(fc.nat(), fc.constantFrom('alice', 'frank', 'frank', 'grace', 'bob'), fc.constant(true))
    .map(([p, u, b]) => new Decide(p, u, b)),
  fc.nat().map((p) => new Cancel(p)),
  fc.nat().map((p) => new Get(p)),
  fc.constant(null).map(() => new Expire()),
];

let runCount = 0;
/** How often each command ran (fast-check skips those whose precondition fails). */
const ran = new Map<string, number>();
const counted = <C extends fc.AsyncCommand<Model, Real>>(command: C): C => {
  const run = command.run.bind(command);
  command.run = async (model, real) => {
    const name = command.toString().split('(')[0] as string;
    ran.set(name, (ran.get(name) ?? 0) + 1);
    await run(model, real);
  };
  return command;
};

describe('approval state machine', () => {
  it('follows the reference model through random sequences of commands', { timeout: 180_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(
          commands.map((c) => c.map(counted)),
          { maxCommands: 20, size: 'large' },
        ),
        async (cmds) => {
          const prefix = `model-${++runCount}`;
          const setup = () => ({ model: { approvals: [] } as Model, real: { prefix, count: 0 } as Real });
          await fc.asyncModelRun(setup, cmds);
        },
      ),
      {
        ...runs(30),
        // Run first: one sequence that surely takes every kind of step, an expiry included.
        examples: [
          [
            [
              new Submit('short'),
              new Submit('dual'),
              new Decide(1, 'alice', true),
              new Decide(1, 'alice', true),
              new Decide(1, 'frank', true),
              new Get(1),
              new Expire(),
              new Decide(0, 'frank', true),
              new Submit('deploy'),
              new Cancel(2),
              new Cancel(2),
            ].map(counted),
          ],
        ],
      },
    );
    // Every kind of step happened, expiries included.
    console.log(JSON.stringify({ model_steps: Object.fromEntries(ran) }));
    expect([...ran.keys()].sort()).toEqual(['cancel', 'decide', 'expire', 'get', 'submit']);
  });

  it('sent exactly one decided event for every approval that ended', async () => {
    const rows = await sys.pool.query<{ action_id: string }>(
      "select action_id from approval.approvals where action_id like 'model-%' and status <> 'pending'",
    );
    expect(rows.rows.length).toBeGreaterThan(0);
    await waitUntil(async () => {
      const counts = await eventCounts(sys.nc);
      return rows.rows.every((r) => counts[Subjects.decided(r.action_id)] === 1);
    });
    const counts = await eventCounts(sys.nc);
    expect(rows.rows.filter((r) => counts[Subjects.decided(r.action_id)] !== 1)).toEqual([]);
  });
});
