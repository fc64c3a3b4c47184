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
import { startTestNotifier, type TestNotifier, testEnv } from './helpers/notifier.js';

/**
 * Deciding by editing a file, end to end: the real policy and approval services (child
 * processes) create the approval and publish its events; the notifier writes the file and
 * submits what a person writes into it.
 */
const nats = await useTestNats();
const db = await useTestDatabase('notifier_markdown_decide');
const directory = mkdtempSync(join(tmpdir(), 'approvals-decide-'));

// At the top level, not in a hook: the fixture registers their afterAll stop, which a hook
// cannot do (the processes outlived the file when started from beforeAll).
await spawnService('policy', { env: { NATS_URL: nats.url }, timeout: 120_000 });
await spawnService('approval', { env: { NATS_URL: nats.url, DATABASE_URL: db.url } });

let nc: NatsConnection;
let run: TestNotifier;
beforeAll(async () => {
  nc = await nats.connect();
  run = await startTestNotifier(testEnv(db, nats.url), {
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

describe('deciding in a markdown file', () => {
  it('refuses the requester, with the reason in the file, then takes an authorized approver', async () => {
    const id = actionId('md-pay');
    // frank holds the finance role, but he is the requester.
    await callEndpoint(nc, 'submit', {
      action_id: id,
      action_type: 'payment',
      description: 'Pay invoice 77 to ACME',
      context: { amount: 1500, currency: 'EUR' },
      requested_by: 'frank',
    });
    await waitUntil(() => read(id), { timeout: 15_000 });

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
    const decided = await waitUntil(
      () => {
        const text = read(id);
        return text?.includes('<!-- countersign:state=approved -->') && text;
      },
      { timeout: 15_000 },
    );
    expect(decided).toMatch(/^Status: approved$/m);
    expect(decided).toMatch(/^Approved By: alice$/m);
    const approval = await callEndpoint(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'alice' });
    expect(approval.votes.map((v) => v.voter)).toEqual(['alice']);
  });
});
