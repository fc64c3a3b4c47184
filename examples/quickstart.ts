// examples/quickstart.ts: ask, wait by push, act only when approved.
import { ApprovalRejectedError, CountersignClient } from '@countersign/client';
import { connectOrExit } from './common.js';

// As billing-job, proven by its NATS credentials: NATS_CREDS or NATS_USER/NATS_PASSWORD, else
// the NATS CLI context the run command wrote for it.
const nc = await connectOrExit('quickstart', 'billing-job');
const client = new CountersignClient(nc);
const request = {
  action_type: 'payment',
  description: 'Pay invoice 42 to ACME',
  requested_by: 'billing-job',
  context: { amount: 1500, currency: 'EUR' },
};

// What the policy would decide, and why (creates nothing).
const decision = await client.checkPolicy(request);
console.log(`policy: ${decision.outcome} by ${decision.approver_roles.join(', ')}`);

// Durable request (the intake stream has it once this returns), then wait for the decision.
const { action_id } = await client.request(request);
console.log(`approve it with:
  nats --context frank req approval.decide.frank '{"action_id":"${action_id}","approved":true}'`);
try {
  const approval = await client.waitForDecision(action_id, { timeout: 5 * 60_000 });
  console.log(`approved by ${approval.decided_by}: paying invoice 42`);
} catch (err) {
  if (!(err instanceof ApprovalRejectedError)) throw err;
  console.log(`not paid: rejected by ${err.approval.decided_by}`);
}
await nc.drain();
