import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import { spawnService, useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEditable } from '../src/markdown/format.js';
import { actionId } from './helpers/approvals.js';
import { markdownFiles } from './helpers/markdown.js';
import { startTestNotifier, type TestNotifier, testDirectoryWith, testEnv } from './helpers/notifier.js';

/**
 * Deciding by editing a file, end to end: the real policy and approval services (child
 * processes) create the approval and publish its events; the notifier writes the file and
 * relays what a person writes into it, as the notifier, naming the person and the channel.
 * Every service reads one directory: the test directory with alice and frank on "vault".
 */
const nats = await useTestNats();
const db = await useTestDatabase('notifier_markdown_decide');
const directory = mkdtempSync(join(tmpdir(), 'approvals-decide-'));
const directoryFile = testDirectoryWith({ alice: { channels: ['vault'] }, frank: { channels: ['vault'] } });

// At the top level, not in a hook: the fixture registers their afterAll stop, which a hook
// cannot do (the processes outlived the file when started from beforeAll).
await spawnService('policy', {
  env: { NATS_URL: nats.url, DIRECTORY_FILE: directoryFile },
  timeout: 120_000,
});
await spawnService('approval', {
  env: { NATS_URL: nats.url, DATABASE_URL: db.url, DIRECTORY_FILE: directoryFile },
});

let nc: NatsConnection;
let run: TestNotifier;
beforeAll(async () => {
  nc = await nats.connect();
  run = await startTestNotifier(testEnv(db, nats.url, { DIRECTORY_FILE: directoryFile }), {
    channels: [{ name: 'vault', type: 'markdown', directory }],
  });
});
afterAll(async () => {
  await run?.stop();
  await nc?.close();
});

const { read, saveDecision } = markdownFiles(directory);

/** What a person does in their editor: fill the three lines and save. */
function decideInFile(id: string, status: string, by: string, reason = ''): void {
  saveDecision(id, read(id) ?? '', status, by, reason);
}

/** A payment of 1,500 (one finance approval) requested by `requester`, once its file is written. */
async function pendingPayment(label: string, requester = 'dave'): Promise<string> {
  const id = actionId(label);
  await callEndpoint(
    nc,
    'submit',
    {
      action_id: id,
      action_type: 'payment',
      description: `Pay invoice for ${label}`,
      context: { amount: 1500, currency: 'EUR' },
      requested_by: requester,
    },
    { actor: requester, timeout: 10_000 },
  );
  await waitUntil(() => read(id), { timeout: 15_000 });
  return id;
}

const decidedFile = (id: string) =>
  waitUntil(
    () => {
      const text = read(id);
      return text?.includes('<!-- countersign:state=approved ') && text;
    },
    { timeout: 15_000, message: `approval_${id}.md to show the approval` },
  );

describe('deciding in a markdown file', () => {
  it('refuses the requester, with the reason in the file, then takes an authorized approver', async () => {
    // frank holds the finance role and may decide in the folder, but he is the requester.
    const id = await pendingPayment('md-pay', 'frank');

    decideInFile(id, 'approved', 'frank', 'looks fine to me');
    const refused = await waitUntil(() => {
      const text = read(id);
      return text?.includes('was refused') && text;
    });
    expect(parseEditable(refused)).toMatchObject({
      writtenState: 'pending',
      status: 'pending',
      approvedBy: '',
    });
    expect(refused).toContain('Decision by frank was refused (forbidden)');
    expect(refused).toContain('self\\_approval');
    expect((await callEndpoint(nc, 'get', { action_id: id })).status).toBe('pending');

    decideInFile(id, 'approved', 'alice', 'invoice checked');
    const decided = await decidedFile(id);
    expect(decided).toMatch(/^Status: approved$/m);
    expect(decided).toMatch(/^Approved By: alice$/m);
    const approval = await callEndpoint(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'alice' });
    expect(approval.votes.map((v) => v.voter)).toEqual(['alice']);
    // The audit history says who decided, and that the notifier carried it from the folder.
    expect(approval.history.map((e) => e.data).filter((d) => d.relayed_by)).toEqual([
      expect.objectContaining({ relayed_by: 'notifier', channel: 'vault' }),
    ]);
  });

  it.each([
    ['case', 'Frank'],
    ['surrounding space', '  frank  '],
    ['fullwidth letters (NFKC)', 'ｆｒａｎｋ'],
  ])('takes "Approved By" written with different %s as frank', async (label, written) => {
    const id = await pendingPayment(`md-variant-${label.split(' ')[0]}`);
    decideInFile(id, 'approved', written, `written as ${written.trim()}`);
    const decided = await decidedFile(id);
    expect(decided).toMatch(/^Approved By: frank$/m);
    const approval = await callEndpoint(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(approval.votes.map((v) => v.voter)).toEqual(['frank']);
  });
});
