/**
 * A deploy pipeline whose deploy step runs only once Countersign approves it: build, test, then
 * deploy through `requireApproval`. The default policy auto-approves staging and asks ops for
 * production. The execution is reported to the approval's audit history automatically.
 *
 *   node --import tsx examples/deploy-pipeline.ts                         # production: ops approves
 *   node --import tsx examples/deploy-pipeline.ts --environment staging   # auto-approved
 *
 * Options (environment variable in brackets):
 *   --environment NAME   where to deploy [DEPLOY_ENVIRONMENT], default production
 *   --service NAME       what to deploy, default web
 *   --version VERSION    default v1.4.2
 *   --run-id ID          the pipeline run [CI_RUN_ID], default a fresh one. The approval's
 *                        action_id is derived from it, so a retried run asks only once.
 *   --timeout SECONDS    how long to wait for the decision, default 600
 *   --fail               make the deploy step fail (to see a failed execution reported)
 * NATS_URL (default nats://127.0.0.1:4222) is where the run command's NATS listens.
 *
 * Exit codes: 0 deployed; 1 refused, failed or an error; 2 no decision within --timeout (the
 * approval stays pending).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  ApprovalCancelledError,
  ApprovalExpiredError,
  ApprovalRejectedError,
  CountersignClient,
  requireApproval,
  WaitTimeoutError,
} from '@countersign/client';
import { approversFor, connectOrExit, decideCommand, explain, fail } from './common.js';

const { values: args } = parseArgs({
  options: {
    environment: { type: 'string', default: process.env.DEPLOY_ENVIRONMENT ?? 'production' },
    service: { type: 'string', default: 'web' },
    version: { type: 'string', default: 'v1.4.2' },
    'run-id': { type: 'string', default: process.env.CI_RUN_ID ?? randomBytes(4).toString('hex') },
    timeout: { type: 'string', default: '600' },
    fail: { type: 'boolean', default: false },
  },
});
const timeoutSeconds = Number(args.timeout);
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) fail('--timeout must be a number of seconds');

/** What is being released. */
interface Release {
  service: string;
  version: string;
  environment: string;
  runId: string;
}

const REQUESTER = 'ci-pipeline';

/** The approval request for a release: the template requireApproval builds it with. */
function approvalRequest(release: Release) {
  return {
    // Stable per pipeline run and target: a retried run finds the same approval.
    action_id: `deploy-${release.service}-${release.environment}-${release.runId}`.replace(
      /[^A-Za-z0-9_-]/g,
      '-',
    ),
    action_type: 'deploy',
    description: `Deploy ${release.service} ${release.version} to ${release.environment}`,
    requested_by: REQUESTER,
    run_id: release.runId,
    context: { environment: release.environment, resource: release.service, version: release.version },
  };
}

/** A pipeline step; here they only pretend, a real pipeline would build and test. */
async function step(name: string, work: () => Promise<string>): Promise<void> {
  console.log(`[${name}] ${await work()}`);
}

/** The sensitive step. Here it only pretends; a real pipeline would call its deploy tool. */
async function deploy(release: Release): Promise<string> {
  if (args.fail)
    throw new Error(`rollout of ${release.service} ${release.version} failed: health check timed out`);
  return `${release.service} ${release.version} is live in ${release.environment}`;
}

const release: Release = {
  service: args.service,
  version: args.version,
  environment: args.environment,
  runId: args['run-id'],
};
const request = approvalRequest(release);
const nc = await connectOrExit('example-deploy-pipeline', REQUESTER);
const client = new CountersignClient(nc, { timeout: 10_000 });
let exitCode = 0;

try {
  console.log(`Pipeline run ${release.runId}: ${request.description}`);
  await step('build', async () => `built ${release.service}:${release.version}`);
  await step('test', async () => '128 tests passed');

  // What the policy will say, so the log tells people what the pipeline is waiting for.
  const decision = await client.checkPolicy(request);
  const why = decision.reasons.map((r) => r.message).join('; ');
  if (decision.outcome === 'needs_approval') {
    const approvers = approversFor(decision.approver_roles, decision.required_approvals, REQUESTER);
    console.log(
      `[approval] ${request.action_id} needs ${decision.required_approvals} approval(s) from ` +
        `${decision.approver_roles.join(', ')}: ${why}`,
    );
    console.log(
      `[approval] waiting up to ${timeoutSeconds} s. An approver (${approvers.join(', ')}) can run:`,
    );
    for (const approver of approvers) {
      console.log(`\n  ${decideCommand(request.action_id, approver, true, 'release checked')}\n`);
    }
    console.log('[approval] (or use the review link in the email the run command prints, or the dashboard)');
  } else {
    console.log(`[approval] policy says ${decision.outcome}: ${why}`);
  }

  const gatedDeploy = requireApproval(client, deploy, {
    request: approvalRequest,
    wait: { timeout: timeoutSeconds * 1000 },
  });
  const result = await gatedDeploy(release);
  console.log(`[deploy] ${result}`);

  // requireApproval has reported the execution; show what the audit trail now says.
  const record = await client.get(request.action_id);
  const reported = record.history.find((e) => e.event === 'reported');
  console.log(
    `[audit] ${record.action_id}: ${record.status} by ${record.decided_by}` +
      `${record.decision_reason ? ` (${record.decision_reason})` : ''}; ` +
      `execution reported: ${String(reported?.data.outcome ?? 'not yet')}`,
  );
} catch (err) {
  exitCode = 1;
  if (err instanceof ApprovalRejectedError) {
    console.error(
      `[approval] refused by ${err.approval.decided_by}: ${err.approval.decision_reason ?? 'no reason given'}. Not deployed.`,
    );
  } else if (err instanceof ApprovalExpiredError) {
    console.error(`[approval] ${err.approval.action_id} expired without a decision. Not deployed.`);
  } else if (err instanceof ApprovalCancelledError) {
    console.error(`[approval] cancelled by ${err.approval.decided_by}. Not deployed.`);
  } else if (err instanceof WaitTimeoutError) {
    exitCode = 2;
    console.error(
      `[approval] no decision within ${timeoutSeconds} s; ${err.actionId} stays pending. Rerun with ` +
        `--run-id ${release.runId} to wait again, or cancel it:\n\n  nats req approval.cancel ` +
        `'${JSON.stringify({ action_id: err.actionId, cancelled_by: REQUESTER, reason: 'pipeline gave up' })}'\n`,
    );
  } else if (args.fail && err instanceof Error && err.message.startsWith('rollout')) {
    console.error(`[deploy] ${err.message} (reported to the approval's history as failed)`);
  } else {
    console.error(`error: ${explain(err)}`);
  }
} finally {
  await nc.drain().catch(() => {});
}
process.exit(exitCode);
