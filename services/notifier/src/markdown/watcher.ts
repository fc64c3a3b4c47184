import { type FSWatcher, watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import {
  ACTION_ID_PATTERN,
  type Approval,
  CountersignError,
  canonicalIdentity,
  TERMINAL_STATUSES,
} from '@countersign/contracts';
import type { Logger } from '@countersign/runtime';
import type { NatsConnection } from '@nats-io/nats-core';
import type pg from 'pg';
import type { DirectorySource } from '../approvers.js';
import { recordRefusal, writtenFile } from '../store/markdown-files.js';
import type { MarkdownFolder } from './folder.js';
import {
  actionIdOf,
  type EditableFields,
  parseEditable,
  renderApprovalFile,
  rewriteEditable,
} from './format.js';
import { relayDecision } from './relay.js';

export interface WatcherOptions {
  nc: NatsConnection;
  /** The notifier's store: the files it wrote, and the audit of refused edits. */
  pool: pg.Pool;
  /** The markdown channel whose folder this is. */
  channel: string;
  folder: MarkdownFolder;
  /** The directory of people: who exists, and who may decide on this channel. */
  directory: DirectorySource;
  /** The identity the notifier relays decisions as (a directory service with `relays_decisions`). */
  notifierIdentity: string;
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

/** Why an edit decides nothing. */
interface Refusal {
  code: string;
  message: string;
}

/**
 * Watches a markdown channel's folder for decisions written into its files (`Status: approved`
 * or `rejected` under a `pending` marker). An edit counts only in a file the notifier wrote for
 * this channel (its marker carries the nonce recorded for the channel, the approval and the
 * path), and only when `Approved By` names, once canonicalised, a person whose directory entry
 * lists this channel. Such a decision is relayed to the approval service as the notifier, naming
 * the person and the channel, where the usual authorization applies. Anything else is refused:
 * written back into the file with the reason, recorded in `notifier.markdown_refusals` and
 * logged. The answer to an accepted edit is written back too: the new state or a recorded vote.
 */
export function startMarkdownWatcher(options: WatcherOptions): MarkdownWatcher {
  const { folder, logger, channel, pool } = options;
  const log = logger.child({ channel, markdown_dir: folder.path });
  const notBefore = new Map<string, number>();
  let stopping = false;
  let scanning: Promise<void> | undefined;
  let rescan = false;

  /** The person an edit names, or why it names nobody who may decide here. */
  const deciderOf = (fields: EditableFields): { person: string } | Refusal => {
    if (!fields.approvedBy) {
      return {
        code: 'identity_required',
        message: 'Fill in "Approved By" with your identity (also when rejecting).',
      };
    }
    const canonical = canonicalIdentity(fields.approvedBy);
    if (!canonical.ok) return { code: 'invalid_identity', message: `"Approved By" ${canonical.message}` };
    const person = options.directory.current().person(canonical.identity);
    if (!person) {
      return { code: 'unknown_identity', message: `${canonical.identity} is not a person in the directory` };
    }
    if (!person.channels.includes(channel)) {
      return {
        code: 'not_on_channel',
        message: `the directory does not allow ${canonical.identity} to decide in the ${channel} folder`,
      };
    }
    return { person: canonical.identity };
  };

  /** Audits a refused edit (row and log line), then writes the refusal into the file. */
  const refuse = async (
    file: string,
    actionId: string,
    fields: EditableFields,
    refusal: Refusal,
    rewrite: () => Promise<void>,
  ) => {
    const path = join(folder.path, file);
    // Audited first: a refusal shown in the file is always on record, even if the write fails.
    await recordRefusal(pool, { channel, actionId, path, claimed: fields.approvedBy, ...refusal });
    log.warn(
      {
        action_id: actionId,
        claimed_identity: fields.approvedBy,
        reason: refusal.code,
        detail: refusal.message,
      },
      'markdown edit refused',
    );
    await rewrite();
  };

  const submit = async (file: string, actionId: string): Promise<void> => {
    await folder.withLock(file, async () => {
      const text = await folder.read(file);
      if (text === undefined) return;
      const fields = parseEditable(text);
      if (fields.writtenState !== 'pending' || !isEdit(fields)) return;
      const path = join(folder.path, file);
      const ours = await writtenFile(pool, channel, actionId);
      if (!ours || !fields.nonce || ours.nonce !== fields.nonce || ours.path !== path) {
        const refusal = notOurs(channel);
        const note = refusalNote(fields, refusal);
        await refuse(file, actionId, fields, refusal, async () => {
          // A copy saved over this channel's own file: put the real one back, so its approvers
          // can still decide here. Without it (or the approval), only the block is answered.
          const current = ours?.path === path ? await currentApproval(actionId) : undefined;
          if (ours && current)
            await folder.write(file, renderApprovalFile(current, { nonce: ours.nonce, note }));
          else await writeBack(file, text, note);
        });
        return;
      }
      const nonce = ours.nonce;
      if (fields.status !== 'approved' && fields.status !== 'rejected') {
        const refusal = {
          code: 'not_a_decision',
          message: `"${fields.status}" is not a decision: write approved or rejected.`,
        };
        await refuse(file, actionId, fields, refusal, () => writeBack(file, text, refusal.message));
        return;
      }
      const decider = deciderOf(fields);
      if (!('person' in decider)) {
        const note = decider.code === 'identity_required' ? decider.message : refusalNote(fields, decider);
        await refuse(file, actionId, fields, decider, () => writeBack(file, text, note));
        return;
      }
      const person = decider.person;
      const approved = fields.status === 'approved';
      const fileLog = log.child({ action_id: actionId, decided_by: person, approved });
      let approval: Approval;
      try {
        approval = await relayDecision(options.nc, options.notifierIdentity, {
          action_id: actionId,
          approved,
          decided_by: person,
          ...(fields.reason ? { reason: fields.reason } : {}),
          channel,
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
        const refusal = { code: error.code, message: serviceRefusal(error) };
        if (error.code === 'already_decided' || error.code === 'expired') {
          // A stale copy was saved over the rendered outcome: putting it back to pending would
          // leave a file that claims a closed approval is still open. Show the outcome instead.
          const current = await currentApproval(actionId);
          if (current) {
            const note = `Decision by ${person} was refused (${error.code}): ${error.message}. The approval is ${current.status}.`;
            await refuse(file, actionId, fields, refusal, () =>
              folder.write(file, renderApprovalFile(current, { nonce, note })),
            );
            return;
          }
        }
        await refuse(file, actionId, fields, refusal, () =>
          writeBack(
            file,
            text,
            `Decision by ${person} was refused (${error.code}): ${refusal.message}. ${TRY_AGAIN}`,
          ),
        );
        return;
      }
      fileLog.info({ status: approval.status }, 'markdown decision submitted');
      const terminal = (TERMINAL_STATUSES as readonly string[]).includes(approval.status);
      const note = terminal
        ? `Decision by ${person} submitted: the approval is ${approval.status}.`
        : `${approved ? 'Approval' : 'Vote'} by ${person} recorded: ${
            approval.votes.filter((v) => v.approved).length
          } of ${approval.required_approvals} approvals so far.`;
      await folder.write(file, renderApprovalFile(approval, { nonce, note }));
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
    if (updated !== undefined) await folder.write(file, updated);
  };

  const scanOnce = async () => {
    let names: string[];
    try {
      names = await readdir(folder.path);
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
        const text = await folder.read(name);
        if (text === undefined) continue;
        const fields = parseEditable(text);
        if (fields.writtenState !== 'pending' || !isEdit(fields)) continue;
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
    fsWatcher = watch(folder.path, () => void scan());
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

const TRY_AGAIN = 'Nothing was decided; correct the fields above to try again.';

/** Whether the editable block holds a person's edit (anything but the pending state written). */
function isEdit(fields: EditableFields): boolean {
  return fields.status !== 'pending' && fields.status !== '';
}

function notOurs(channel: string): Refusal {
  return {
    code: 'not_written_for_channel',
    message: `Countersign did not write this file for the ${channel} folder (copied or made by hand)`,
  };
}

/** A claimed identity as readable text: invisible characters shown as code points, not hidden. */
function visible(claimed: string): string {
  return claimed.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`);
}

function refusalNote(fields: EditableFields, refusal: Refusal): string {
  const by = fields.approvedBy ? `Decision by "${visible(fields.approvedBy)}"` : 'Decision';
  return `${by} was refused (${refusal.code}): ${refusal.message}. ${TRY_AGAIN}`;
}

/** The service's refusal with its reasons (`forbidden … self_approval: …`). */
function serviceRefusal(error: CountersignError): string {
  const reasons = Array.isArray(error.details?.reasons)
    ? (error.details.reasons as { code?: string; message?: string }[])
        .map((r) => `${r.code ?? 'refused'}: ${r.message ?? ''}`.trim())
        .join('; ')
    : '';
  return `${error.message}${reasons ? ` (${reasons})` : ''}`;
}
