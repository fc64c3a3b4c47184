import { type FSWatcher, watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { callEndpoint } from '@countersign/client';
import {
  ACTION_ID_PATTERN,
  type Approval,
  CountersignError,
  TERMINAL_STATUSES,
} from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type { MarkdownDirectory } from './directory.js';
import { actionIdOf, parseEditable, renderApprovalFile, rewriteEditable } from './format.js';

export interface WatcherOptions {
  nc: NatsConnection;
  directory: MarkdownDirectory;
  logger: Logger;
  pollIntervalMs: number;
  /** After `unavailable` (approval service down), wait this long before trying the file again. */
  unavailableBackoffMs?: number;
}

export interface MarkdownWatcher {
  /** Scans once now (tests, and the file-system hint). */
  scan(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Watches a directory of approval files for decisions written into them (`Status: approved`
 * or `rejected` under a `pending` marker) and submits each through `approval.decide`, where
 * the same authorization applies as everywhere. The answer is written back into the file:
 * the new state, a recorded vote, or why the decision was refused.
 */
export function startMarkdownWatcher(options: WatcherOptions): MarkdownWatcher {
  const { directory, logger } = options;
  const log = logger.child({ markdown_dir: directory.path });
  const notBefore = new Map<string, number>();
  let stopping = false;
  let scanning: Promise<void> | undefined;
  let rescan = false;

  const submit = async (file: string, actionId: string): Promise<void> => {
    await directory.withLock(file, async () => {
      const text = await directory.read(file);
      if (text === undefined) return;
      const fields = parseEditable(text);
      if (fields.writtenState !== 'pending') return;
      if (fields.status !== 'approved' && fields.status !== 'rejected') {
        if (fields.status && fields.status !== 'pending') {
          await writeBack(file, text, `"${fields.status}" is not a decision: write approved or rejected.`);
        }
        return;
      }
      if (!fields.approvedBy) {
        await writeBack(file, text, 'Fill in "Approved By" with your identity (also when rejecting).');
        return;
      }
      const approved = fields.status === 'approved';
      const fileLog = log.child({ action_id: actionId, decided_by: fields.approvedBy, approved });
      let approval: Approval;
      try {
        approval = await callEndpoint(options.nc, 'decide', {
          action_id: actionId,
          approved,
          decided_by: fields.approvedBy,
          ...(fields.reason ? { reason: fields.reason } : {}),
        });
      } catch (err) {
        const error =
          err instanceof CountersignError
            ? err
            : new CountersignError('internal', 'decision failed', {}, { cause: err });
        if (error.code === 'unavailable' || error.code === 'internal') {
          // Nothing was decided; the edit stays in the file and is submitted again later.
          notBefore.set(file, Date.now() + (options.unavailableBackoffMs ?? 5000));
          fileLog.warn(
            { code: error.code, message: error.message },
            'markdown decision not submitted; will retry',
          );
          return;
        }
        fileLog.info({ code: error.code }, 'markdown decision refused');
        if (error.code === 'already_decided' || error.code === 'expired') {
          // A stale copy was saved over the rendered outcome: putting it back to pending would
          // leave a file that claims a closed approval is still open. Show the outcome instead.
          const current = await currentApproval(actionId);
          if (current) {
            const note = `Decision by ${fields.approvedBy} was refused (${error.code}): ${error.message}. The approval is ${current.status}.`;
            await directory.write(file, renderApprovalFile(current, { note }));
            return;
          }
        }
        await writeBack(file, text, refusalNote(fields.approvedBy, error));
        return;
      }
      fileLog.info({ status: approval.status }, 'markdown decision submitted');
      const terminal = (TERMINAL_STATUSES as readonly string[]).includes(approval.status);
      const note = terminal
        ? `Decision by ${fields.approvedBy} submitted: the approval is ${approval.status}.`
        : `${approved ? 'Approval' : 'Vote'} by ${fields.approvedBy} recorded: ${
            approval.votes.filter((v) => v.approved).length
          } of ${approval.required_approvals} approvals so far.`;
      await directory.write(file, renderApprovalFile(approval, { note }));
    });
  };

  /** The approval as the service has it now, or undefined when it cannot be read. */
  const currentApproval = async (actionId: string): Promise<Approval | undefined> => {
    try {
      return await callEndpoint(options.nc, 'get', { action_id: actionId });
    } catch (err) {
      log.warn({ action_id: actionId, err }, 'could not read the approval to show its outcome');
      return undefined;
    }
  };

  /** Puts the file back to pending with a note, keeping everything else as the reader left it. */
  const writeBack = async (file: string, text: string, note: string) => {
    const updated = rewriteEditable(text, { status: 'pending', approvedBy: '', reason: '', note });
    if (updated !== undefined) await directory.write(file, updated);
  };

  const scanOnce = async () => {
    let names: string[];
    try {
      names = await readdir(directory.path);
    } catch (err) {
      log.warn({ code: (err as NodeJS.ErrnoException).code }, 'cannot list markdown directory');
      return;
    }
    for (const name of names) {
      if (stopping) return;
      const actionId = actionIdOf(name);
      if (!actionId || !ACTION_ID_PATTERN.test(actionId)) continue;
      if ((notBefore.get(name) ?? 0) > Date.now()) continue;
      try {
        // Cheap pre-check outside the lock: most files are unchanged.
        const text = await directory.read(name);
        if (text === undefined) continue;
        const fields = parseEditable(text);
        if (fields.writtenState !== 'pending' || fields.status === 'pending' || fields.status === '')
          continue;
        await submit(name, actionId);
      } catch (err) {
        log.error({ err, file: name }, 'markdown file could not be processed');
      }
    }
  };

  const scan = async (): Promise<void> => {
    if (scanning) {
      rescan = true;
      return scanning;
    }
    scanning = (async () => {
      do {
        rescan = false;
        await scanOnce();
      } while (rescan && !stopping);
    })().finally(() => {
      scanning = undefined;
    });
    return scanning;
  };

  const timer = setInterval(() => void scan(), options.pollIntervalMs);
  let fsWatcher: FSWatcher | undefined;
  try {
    // A hint only (it misses events on network file systems): the poll is what guarantees a scan.
    fsWatcher = watch(directory.path, () => void scan());
    fsWatcher.on('error', () => {});
  } catch {
    fsWatcher = undefined;
  }
  void scan();

  return {
    scan,
    async stop() {
      stopping = true;
      clearInterval(timer);
      fsWatcher?.close();
      await scanning;
    },
  };
}

function refusalNote(decider: string, error: CountersignError): string {
  const reasons = Array.isArray(error.details?.reasons)
    ? (error.details.reasons as { code?: string; message?: string }[])
        .map((r) => `${r.code ?? 'refused'}: ${r.message ?? ''}`.trim())
        .join('; ')
    : '';
  return `Decision by ${decider} was refused (${error.code}): ${error.message}${reasons ? ` (${reasons})` : ''}. Nothing was decided; correct the fields above to try again.`;
}
