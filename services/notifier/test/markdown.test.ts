import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeApprovalEvent } from '@countersign/contracts';
import { useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEditable } from '../src/markdown/format.js';
import { decidedEvent, makeApproval, pendingEvent } from './helpers/approvals.js';
import { startTestNotifier, type TestNotifier, testEnv } from './helpers/notifier.js';
import { EventPublisher } from './helpers/publisher.js';

const nats = await useTestNats();
const db = await useTestDatabase('notifier_markdown');
const directory = mkdtempSync(join(tmpdir(), 'approvals-md-'));

let nc: NatsConnection;
let events: EventPublisher;
let run: TestNotifier;
beforeAll(async () => {
  nc = await nats.connect();
  events = await EventPublisher.create(nc);
  // No approval service here: the watcher is off; deciding through files is in markdown-decide.test.ts.
  run = await startTestNotifier(testEnv(db, nats.url), {
    channels: [{ name: 'vault', type: 'markdown', directory, watch: false }],
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
      status: 'pending',
      approvedBy: '',
      reason: '',
    });

    await events.publish(decidedEvent(approval, 'approved', 'alice'));
    const decided = await waitUntil(() => {
      const text = read(approval.action_id);
      return text?.includes('<!-- countersign:state=approved -->') && text;
    });
    expect(decided).toMatch(/^Status: approved$/m);
    expect(decided).toMatch(/^Approved By: alice$/m);
    expect(decided).toContain('## Outcome');
    expect(decided).toContain('- **Decided by:** alice');
    expect(decided).not.toContain('## How to decide');
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
