import type { Approval } from '@countersign/contracts';
import type { CountersignClient, NewApprovalRequest } from './client.js';
import { receiptSha256 } from './receipts.js';
import type { WaitOptions } from './wait.js';

export interface RequireApprovalOptions<Args extends unknown[]> {
  /** Builds the approval request from the call's arguments. */
  request: (...args: Args) => NewApprovalRequest;
  /** The caller's wait for a decision; see waitForDecision. */
  wait?: WaitOptions;
  /** Record the outcome in the approval's history after running. Default true. */
  report?: boolean;
}

/**
 * Wraps an async function so it runs only once its approval is granted (the policy may grant it
 * at once). A rejection, expiry or cancellation rejects with the typed error and the function
 * never runs; so does a decision whose signed receipt does not verify against the service's
 * keys or does not attest this request (ReceiptInvalidError). After running, the outcome
 * (`executed` or `failed`) is reported to the approval's audit history with the SHA-256 of the
 * receipt acted on; a failing report never hides the function's own result or error.
 */
export function requireApproval<Args extends unknown[], R>(
  client: CountersignClient,
  fn: (...args: Args) => Promise<R>,
  options: RequireApprovalOptions<Args>,
): (...args: Args) => Promise<R> {
  return async (...args: Args) => {
    const request = options.request(...args);
    // Verified inside: signature, action_id, request_hash and status of the receipt.
    const approval: Approval = await client.requestAndWait(request, options.wait);
    const receipt = approval.receipt ? { receipt_sha256: receiptSha256(approval.receipt) } : {};
    const report = (outcome: 'executed' | 'failed', detail?: string) =>
      options.report === false
        ? Promise.resolve()
        : client
            .reportExecution(approval.action_id, {
              outcome,
              reported_by: approval.requested_by,
              ...receipt,
              ...(detail ? { detail: detail.slice(0, 4000) } : {}),
            })
            .then(
              () => undefined,
              () => undefined,
            );
    let result: R;
    try {
      result = await fn(...args);
    } catch (err) {
      await report('failed', err instanceof Error ? err.message : String(err));
      throw err;
    }
    await report('executed');
    return result;
  };
}
