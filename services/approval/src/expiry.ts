import { type Logger, sleeper } from '@countersign/runtime';
import { escalateDue, expireAllDue, type LifecycleDeps, remindDue } from './lifecycle/index.js';

export interface ExpiryLoop {
  stop(): Promise<void>;
}

/**
 * Every `intervalMs`, expires pending approvals past their deadline (with their decided events),
 * then escalates and reminds those the policy asked to (lifecycle/follow-ups.ts): expiry first,
 * so an overdue approval is never escalated or reminded. Safe with several replicas: each sweep
 * skips rows another transaction holds. Failures are logged and the next sweep tries again; the
 * loop never throws.
 */
export function startExpiryLoop(
  deps: LifecycleDeps,
  options: { intervalMs: number; batchSize: number; logger: Logger },
): ExpiryLoop {
  const log = options.logger.child({ component: 'expiry' });
  const pause = sleeper();
  let stopping = false;
  const run = async () => {
    while (!stopping) {
      try {
        const n = await expireAllDue(deps, options.batchSize);
        if (n > 0) log.info({ expired: n }, 'expired overdue approvals');
        const escalated = await escalateDue(deps, options.batchSize);
        const reminded = await remindDue(deps, options.batchSize);
        if (escalated + reminded > 0) log.info({ escalated, reminded }, 'follow-ups sent');
      } catch (err) {
        log.warn({ err }, 'expiry sweep failed; retrying at the next interval');
      }
      await pause.sleep(options.intervalMs);
    }
  };
  const done = run();
  return {
    stop: async () => {
      stopping = true;
      pause.wake();
      await done;
    },
  };
}
