/**
 * A payment job: every payment asks Countersign first (`requestAndWait`) and is paid only when
 * approved. With the default policy: small payments are auto-approved, 1,500 needs one finance
 * approver, 25,000 needs two, and 2,000,000 is denied by the policy outright. A human rejection,
 * an expiry or a cancellation arrives as a typed error; when the job's own wait runs out the
 * payment is left pending (WaitTimeoutError) for the next run to pick up.
 *
 *   node --import tsx examples/payment-job.ts
 *   node --import tsx examples/payment-job.ts --wait 10          # give up waiting after 10 s
 *   node --import tsx examples/payment-job.ts --run <id>         # resume an earlier run
 *
 * Options: --run ID (the job run; action_ids derive from it, so a rerun with the same id waits
 * for the same approvals instead of asking again; default a fresh id), --wait SECONDS (how long
 * to wait for decisions, default 300). NATS_URL (default nats://127.0.0.1:4222).
 *
 * Exit codes: 0 every payment was decided (paid or not); 1 an error; 3 some payments are still
 * pending after --wait.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  ApprovalCancelledError,
  ApprovalExpiredError,
  ApprovalRejectedError,
  CountersignClient,
  NotFoundError,
  WaitTimeoutError,
} from '@countersign/client';
import { approversFor, connectOrExit, decideCommand, explain, fail } from './common.js';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string', default: randomBytes(4).toString('hex') },
    wait: { type: 'string', default: '300' },
  },
});
const waitSeconds = Number(args.wait);
if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) fail('--wait must be a number of seconds');

interface Payment {
  invoice: string;
  payee: string;
  amount: number;
}

const PAYMENTS: Payment[] = [
  { invoice: 'inv-101', payee: 'Paper Supplies Ltd', amount: 120 },
  { invoice: 'inv-102', payee: 'Cloud Hosting GmbH', amount: 480 },
  { invoice: 'inv-103', payee: 'Design Studio', amount: 1500 },
  { invoice: 'inv-104', payee: 'Office Lease AG', amount: 25_000 },
  { invoice: 'inv-105', payee: 'Unknown Offshore Inc', amount: 2_000_000 },
];
const REQUESTER = 'payment-job';

type Outcome = 'paid' | 'refused' | 'pending';

const nc = await connectOrExit('example-payment-job', REQUESTER);
const client = new CountersignClient(nc, { timeout: 10_000 });

function requestFor(payment: Payment) {
  return {
    action_id: `pay-${payment.invoice}-${args.run}`,
    action_type: 'payment',
    description: `Pay ${payment.invoice} to ${payment.payee}: ${payment.amount} EUR`,
    requested_by: REQUESTER,
    run_id: `payment-job-${args.run}`,
    context: { amount: payment.amount, currency: 'EUR', resource: payment.payee },
  };
}

/** The approval of an earlier run with this action_id, if any. */
async function existing(actionId: string) {
  try {
    return await client.get(actionId);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** One payment: ask, wait for the decision, pay only when approved, record that it was paid. */
async function pay(payment: Payment): Promise<Outcome> {
  const request = requestFor(payment);
  const label = `${payment.invoice} ${String(payment.amount).padStart(9)} EUR`;
  // A resumed run must not pay twice: the execution report in the approval's history is the
  // job's record of what it already paid. (A crash between paying and reporting would still pay
  // again; a real job also hands the action_id to its payment provider as an idempotency key.)
  const earlier = await existing(request.action_id);
  if (earlier?.history.some((e) => e.event === 'reported')) {
    console.log(`${label}  already paid by an earlier run`);
    return 'paid';
  }
  const decision = earlier?.policy ?? (await client.checkPolicy(request));
  if (decision.outcome === 'needs_approval' && (earlier === undefined || earlier.status === 'pending')) {
    const voted = new Set(earlier?.votes.map((v) => v.voter));
    const approvers = approversFor(decision.approver_roles, decision.required_approvals, REQUESTER).filter(
      (a) => !voted.has(a),
    );
    const commands = approvers.map(
      (a) => `    ${decideCommand(request.action_id, a, true, 'invoice checked')}`,
    );
    console.log(
      `${label}  needs ${decision.required_approvals} approval(s) from ${decision.approver_roles.join(', ')}; ` +
        `to approve:\n${commands.join('\n')}`,
    );
  }
  try {
    const approval = await client.requestAndWait(request, { timeout: waitSeconds * 1000 });
    const by =
      approval.decided_by === 'policy'
        ? 'auto-approved by policy'
        : `approved by ${approval.votes.map((v) => v.voter).join(' and ')}`;
    // The payment itself would happen here.
    await client.reportExecution(approval.action_id, { outcome: 'executed', reported_by: REQUESTER });
    console.log(`${label}  paid (${by})`);
    return 'paid';
  } catch (err) {
    if (err instanceof ApprovalRejectedError) {
      const who =
        err.approval.decided_by === 'policy' ? 'denied by policy' : `rejected by ${err.approval.decided_by}`;
      console.log(`${label}  not paid: ${who}: ${err.approval.decision_reason ?? ''}`);
      return 'refused';
    }
    if (err instanceof ApprovalExpiredError || err instanceof ApprovalCancelledError) {
      console.log(`${label}  not paid: ${err.approval.status}`);
      return 'refused';
    }
    if (err instanceof WaitTimeoutError) {
      console.log(`${label}  still pending after ${waitSeconds} s (left pending: ${err.actionId})`);
      return 'pending';
    }
    throw err;
  }
}

let exitCode = 0;
try {
  console.log(`Payment run ${args.run}: ${PAYMENTS.length} payments`);
  const outcomes = await Promise.all(PAYMENTS.map(pay));
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;
  console.log(`Done: ${count('paid')} paid, ${count('refused')} not paid, ${count('pending')} pending.`);
  if (count('pending') > 0) {
    exitCode = 3;
    console.error(
      `Some payments still wait for a decision; rerun with --run ${args.run} to pick them up where they are.`,
    );
  }
} catch (err) {
  exitCode = 1;
  console.error(`error: ${explain(err)}`);
} finally {
  await nc.drain().catch(() => {});
}
process.exit(exitCode);
