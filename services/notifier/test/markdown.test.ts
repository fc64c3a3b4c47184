import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeApprovalEvent } from '@countersign/contracts';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEditable, renderApprovalFile } from '../src/markdown/format.js';
import { actionId, decidedEvent, makeApproval, pendingEvent } from './helpers/approvals.js';
import { markdownFiles } from './helpers/markdown.js';
import { startTestNotifier, type TestNotifier, testEnv } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_markdown');
const directory = mkdtempSync(join(tmpdir(), 'approvals-md-'));
// A watched folder. The test directory lets frank and grace decide on the channel "folder";
// alice holds the finance role but is not on it. No approval service runs here: every edit
// below is refused by the notifier itself, before anything is relayed.
const watched = mkdtempSync(join(tmpdir(), 'approvals-watched-'));

let nc: NatsConnection;
let events: EventPublisher;
let run: TestNotifier;
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
  // No approval service here: deciding through files is in markdown-decide.test.ts.
  run = await startTestNotifier(testEnv(db, nats.url), {
    channels: [
      { name: 'vault', type: 'markdown', directory, watch: false },
      { name: 'folder', type: 'markdown', directory: watched },
    ],
  });
});
afterAll(async () => {
  await run.stop();
  await nc.close();
});

const read = (actionId: string) => {
  try {
    return readFileSync(join(directory, `approval_${actionId}.md`), 'utf8');
  } catch {
    return undefined;
  }
};

describe('markdown channel', () => {
  it('writes a pending approval with the documented fields, and its outcome once decided', async () => {
    const hostile =
      'Pay the invoice\nStatus: approved\nApproved By: mallory\n```\n# Heading <script>x</script>';
    const approval = makeApproval({
      description: hostile,
      context: { amount: 1500, currency: 'EUR', nested: { note: '```json' } },
    });
    await events.publish(pendingEvent(approval));
    const file = await waitUntil(() => read(approval.action_id));

    expect(file).toContain(`# Approval: payment (${approval.action_id})`);
    expect(file).toMatch(/^Status: pending$/m);
    expect(file).toMatch(/^Approved By: $/m);
    expect(file).toMatch(/^Reason: $/m);
    expect(file).toContain('change `Status: pending` to `Status: approved` or `Status: rejected`');
    expect(file).toContain('- **Requested by:** dave');
    expect(file).toMatch(/- \*\*Expires:\*\* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(file).toContain('- **Risk:** high');
    expect(file).toContain('- **amount\\_threshold**: amount 1500 is at least 500');
    // The description sits verbatim in a fence that its own backticks cannot close.
    expect(file).toContain(`\`\`\`\`text\n${hostile}\n\`\`\`\``);
    const json = /```json\n([\s\S]*?)\n```/.exec(file)?.[1];
    expect(JSON.parse(json ?? '')).toEqual(approval.context);
    // The "Status: approved" inside the description is not a decision.
    expect(parseEditable(file)).toEqual({
      writtenState: 'pending',
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      status: 'pending',
      approvedBy: '',
      reason: '',
    });

    await events.publish(decidedEvent(approval, 'approved', 'alice'));
    const decided = await waitUntil(() => {
      const text = read(approval.action_id);
      return text?.includes('<!-- countersign:state=approved ') && text;
    });
    expect(decided).toMatch(/^Status: approved$/m);
    expect(decided).toMatch(/^Approved By: alice$/m);
    expect(decided).toContain('## Outcome');
    expect(decided).toContain('- **Decided by:** alice');
    expect(decided).not.toContain('## How to decide');
    // Every rendering of the approval for this channel carries the nonce recorded for it.
    expect(parseEditable(decided).nonce).toBe(parseEditable(file).nonce);
    const recorded = await run.pool.query(
      `select channel, path, nonce from notifier.markdown_files where action_id = $1 order by channel`,
      [approval.action_id],
    );
    expect(recorded.rows.map((r) => [r.channel, r.path])).toEqual([
      ['folder', join(watched, `approval_${approval.action_id}.md`)],
      ['vault', join(directory, `approval_${approval.action_id}.md`)],
    ]);
    expect(recorded.rows[1]?.nonce).toBe(parseEditable(file).nonce);
  });

  it('leaves an existing file alone when the pending event comes again', async () => {
    const approval = makeApproval();
    const event = pendingEvent(approval);
    await events.publish(event);
    const path = join(directory, `approval_${approval.action_id}.md`);
    const original = await waitUntil(() => read(approval.action_id));
    // A person is halfway through an edit when a replay of the event arrives.
    const edited = original.replace('Approved By: ', 'Approved By: alice');
    writeFileSync(path, edited);
    await events.publishRaw(
      `approval.pending.${approval.action_id}`,
      encodeApprovalEvent({ ...event, id: `${event.id}-again` }),
    );
    await waitUntil(async () => {
      const rows = await run.pool.query(`select d.status from notifier.deliveries d where d.event_id = $1`, [
        `${event.id}-again`,
      ]);
      return rows.rows[0]?.status === 'delivered';
    });
    expect(read(approval.action_id)).toBe(edited);
  });
});

describe('markdown folder: edits that decide nothing', () => {
  const folder = markdownFiles(watched);
  const vault = markdownFiles(directory);

  /** A pending approval, once its file is in the watched folder (and in the vault). */
  async function pendingFile() {
    const approval = makeApproval();
    await events.publish(pendingEvent(approval));
    const text = await waitUntil(() => folder.read(approval.action_id));
    await waitUntil(() => vault.read(approval.action_id));
    return { id: approval.action_id, text };
  }

  /** The file once the watcher has written the refusal into it. */
  const refusedFile = (id: string) =>
    waitUntil(
      () => {
        const text = folder.read(id);
        return text?.includes('was refused') && text;
      },
      { message: `approval_${id}.md to say the edit was refused` },
    );

  /** The audit of an approval's refused edits: the store's rows and the warn log lines. */
  async function audited(id: string) {
    const rows = await run.pool.query(
      `select channel, claimed, code, path from notifier.markdown_refusals where action_id = $1 order by id`,
      [id],
    );
    const logs = run
      .logs()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'markdown edit refused' && entry.action_id === id)
      .map(({ level, channel, claimed_identity, reason }) => ({ level, channel, claimed_identity, reason }));
    return { rows: rows.rows, logs };
  }

  const reopened = { writtenState: 'pending', status: 'pending', approvedBy: '', reason: '' };

  it('refuses an edit by a person the directory does not allow on the channel, in the file and on record', async () => {
    const { id, text } = await pendingFile();
    // alice may approve payments (finance), but not by editing files in this folder.
    folder.saveDecision(id, text, 'approved', 'alice', 'fine by me');
    const refused = await refusedFile(id);
    expect(refused).toContain('Decision by "alice" was refused (not\\_on\\_channel)');
    expect(parseEditable(refused)).toMatchObject(reopened);
    expect(await audited(id)).toEqual({
      rows: [{ channel: 'folder', claimed: 'alice', code: 'not_on_channel', path: folder.pathOf(id) }],
      logs: [{ level: 40, channel: 'folder', claimed_identity: 'alice', reason: 'not_on_channel' }],
    });
  });

  it('refuses an approval_<id>.md the notifier never wrote, even naming a person allowed here', async () => {
    // A hand-made file: a real rendering of an approval that was never sent to this channel.
    const id = actionId('forged');
    const forged = renderApprovalFile(makeApproval({ action_id: id }), { nonce: 'made-up-nonce' });
    folder.saveDecision(id, forged, 'approved', 'frank');
    const refused = await refusedFile(id);
    expect(refused).toContain('Decision by "frank" was refused (not\\_written\\_for\\_channel)');
    expect(parseEditable(refused)).toMatchObject(reopened);
    expect((await audited(id)).rows).toEqual([
      { channel: 'folder', claimed: 'frank', code: 'not_written_for_channel', path: folder.pathOf(id) },
    ]);
  });

  it("refuses a file copied from another channel's folder over this one's", async () => {
    const { id, text: own } = await pendingFile();
    // The vault's file for the same approval (its own nonce), decided and copied over.
    const copied = vault.read(id) as string;
    expect(parseEditable(copied).nonce).not.toBe(parseEditable(own).nonce);
    folder.saveDecision(id, copied, 'approved', 'frank');
    const refused = await refusedFile(id);
    expect(refused).toContain('(not\\_written\\_for\\_channel)');
    // Without an approval service to read the approval from, only the block is answered.
    expect(parseEditable(refused)).toMatchObject(reopened);
    expect((await audited(id)).rows.map((r) => [r.claimed, r.code])).toEqual([
      ['frank', 'not_written_for_channel'],
    ]);
  });

  it('refuses a name with a zero-width character, showing it, and a name the directory does not know', async () => {
    const hidden = await pendingFile();
    folder.saveDecision(hidden.id, hidden.text, 'approved', 'fr\u200bank');
    const refused = await refusedFile(hidden.id);
    expect(refused).toContain('Decision by "fr\\\\u{200b}ank" was refused (invalid\\_identity)');
    expect(parseEditable(refused)).toMatchObject(reopened);
    expect((await audited(hidden.id)).rows.map((r) => [r.claimed, r.code])).toEqual([
      ['fr\u200bank', 'invalid_identity'],
    ]);

    const unknown = await pendingFile();
    folder.saveDecision(unknown.id, unknown.text, 'rejected', 'Zoe');
    expect(await refusedFile(unknown.id)).toContain(
      '(unknown\\_identity): zoe is not a person in the directory',
    );
    expect((await audited(unknown.id)).logs).toEqual([
      { level: 40, channel: 'folder', claimed_identity: 'Zoe', reason: 'unknown_identity' },
    ]);
  });

  it('replaces a file planted before the approval arrived with the real one', async () => {
    const approval = makeApproval({ description: 'The real description' });
    // Planted with a pending block (nothing for the watcher to refuse) and a made-up nonce.
    const planted = renderApprovalFile({ ...approval, description: 'Pay mallory' }, { nonce: 'planted' });
    writeFileSync(folder.pathOf(approval.action_id), planted);
    await events.publish(pendingEvent(approval));
    const real = await waitUntil(() => {
      const text = folder.read(approval.action_id);
      return text?.includes('The real description') && text;
    });
    expect(parseEditable(real).nonce).not.toBe('planted');
    expect(real).not.toContain('Pay mallory');
  });
});
