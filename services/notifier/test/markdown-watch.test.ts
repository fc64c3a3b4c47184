import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callEndpoint } from '@countersign/client';
import type { EndpointName, RequestOf } from '@countersign/contracts';
import { call, spawnService, useTestDatabase, useTestNats, waitUntil } from '@countersign/test-fixtures';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEditable } from '../src/markdown/format.js';
import { actionId } from './helpers/approvals.js';
import { deliveriesOf } from './helpers/deliveries.js';
import { markdownFiles } from './helpers/markdown.js';
import { startTestNotifier, type TestNotifier, testDirectoryWith, testEnv } from './helpers/notifier.js';

/**
 * The markdown watcher's refusals and retries, end to end: the real policy and approval
 * services (child processes) decide, the notifier writes and watches the folder. Each case
 * checks what the file says afterwards and what the approval service has (or has not) decided.
 */
const nats = await useTestNats();
const db = await useTestDatabase('notifier_markdown_watch');
const directory = mkdtempSync(join(tmpdir(), 'approvals-watch-'));
// Another channel's folder, unwatched, with its own files of the same approvals.
const archiveDirectory = mkdtempSync(join(tmpdir(), 'approvals-archive-'));
// Every service reads one directory: the test directory with alice and frank on "vault".
const directoryFile = testDirectoryWith({ alice: { channels: ['vault'] }, frank: { channels: ['vault'] } });

await spawnService('policy', {
  env: { NATS_URL: nats.url, DIRECTORY_FILE: directoryFile },
  timeout: 120_000,
});
// A short expiry sweep, so an approval with a one-second timeout is expired (and its event
// published) soon after its deadline.
const approvalService = await spawnService('approval', {
  env: {
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    DIRECTORY_FILE: directoryFile,
    EXPIRY_INTERVAL_MS: '200',
  },
});

let nc: NatsConnection;
let run: TestNotifier;
beforeAll(async () => {
  nc = await nats.connect();
  // Retries spaced out enough that the unwritable-file case can repair the path in between.
  run = await startTestNotifier(
    testEnv(db, nats.url, {
      DIRECTORY_FILE: directoryFile,
      NOTIFIER_RETRY_SCHEDULE: '0,100ms,500ms,1s,2s,5s,10s,20s',
    }),
    {
      channels: [
        { name: 'vault', type: 'markdown', directory },
        { name: 'archive', type: 'markdown', directory: archiveDirectory, watch: false },
      ],
    },
  );
});
afterAll(async () => {
  await run?.stop();
  await nc?.close();
});

const { pathOf, read, saveDecision } = markdownFiles(directory);
const archive = markdownFiles(archiveDirectory);

/** A command sent as `actor` (on its actor subject), with a timeout for a loaded machine. */
const commandAs = <E extends EndpointName>(actor: string, name: E, request: RequestOf<E>) =>
  callEndpoint(nc, name, request, { actor, timeout: 10_000 });

/** The file once it carries `needle`. Generous: the approval service runs as a child process. */
const fileWith = (id: string, needle: string, timeout = 30_000) =>
  waitUntil(
    () => {
      const text = read(id);
      return text?.includes(needle) && text;
    },
    { timeout, message: `approval_${id}.md to contain ${JSON.stringify(needle)}` },
  );

/** A pending payment that needs a finance approver (dave requests, alice and frank approve). */
async function pendingPayment(label: string, extra: { amount?: number; timeout_seconds?: number } = {}) {
  const id = actionId(label);
  await commandAs('dave', 'submit', {
    action_id: id,
    action_type: 'payment',
    description: `Pay invoice for ${label}`,
    context: { amount: extra.amount ?? 1500, currency: 'EUR' },
    requested_by: 'dave',
    ...(extra.timeout_seconds ? { timeout_seconds: extra.timeout_seconds } : {}),
  });
  const text = await fileWith(id, '<!-- countersign:state=pending ');
  return { id, text };
}

/** The editable block is back to pending and empty: the person can write a new decision. */
function expectReopened(text: string): void {
  expect(parseEditable(text)).toEqual({
    writtenState: 'pending',
    nonce: expect.any(String),
    status: 'pending',
    approvedBy: '',
    reason: '',
  });
}

describe('markdown watcher: edits that are not decisions', () => {
  it('answers a status that is not a decision in the file and decides nothing', async () => {
    const { id, text } = await pendingPayment('md-maybe');
    saveDecision(id, text, 'maybe', 'alice');
    const answered = await fileWith(id, 'is not a decision');
    expect(answered).toContain('"maybe" is not a decision: write approved or rejected.');
    expectReopened(answered);
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval.status).toBe('pending');
    expect(approval.votes).toEqual([]);
  });

  it('asks for "Approved By" when it is missing and decides nothing', async () => {
    const { id, text } = await pendingPayment('md-nobody');
    saveDecision(id, text, 'approved', '');
    const answered = await fileWith(id, 'Fill in');
    expect(answered).toContain('Fill in "Approved By" with your identity (also when rejecting).');
    expectReopened(answered);
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval.status).toBe('pending');
    expect(approval.votes).toEqual([]);
  });
});

describe('markdown watcher: decisions the approval service refuses', () => {
  it('refuses a decision on an approval that expired, with the reason in the file', async () => {
    // Five seconds: time enough to see (and keep) the pending file before it expires.
    const { id, text } = await pendingPayment('md-expired', { timeout_seconds: 5 });
    // The expiry is published and rendered into the file by the channel...
    await fileWith(id, '<!-- countersign:state=expired ');
    // ...but the person's editor still had the pending copy open, and saves it with a decision.
    saveDecision(id, text, 'approved', 'alice', 'too late');
    const answered = await fileWith(id, 'was refused');
    expect(answered).toContain('Decision by alice was refused (expired)');
    // The file shows the outcome again, not a pending approval nobody can decide any more.
    expect(parseEditable(answered)).toMatchObject({ writtenState: 'expired', status: 'expired' });
    expect(answered).toContain('The approval is expired.');
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'expired', decided_by: 'countersign' });
    expect(approval.votes).toEqual([]);
  });

  it('refuses a decision on an approval already decided elsewhere, and keeps the first decision', async () => {
    const { id, text } = await pendingPayment('md-twice');
    await commandAs('alice', 'decide', { action_id: id, approved: true, reason: 'from the CLI' });
    await fileWith(id, '<!-- countersign:state=approved ');
    // A stale copy saved with the opposite decision.
    saveDecision(id, text, 'rejected', 'frank', 'no');
    const answered = await fileWith(id, 'was refused');
    expect(answered).toContain('Decision by frank was refused (already\\_decided)');
    expect(parseEditable(answered)).toEqual({
      writtenState: 'approved',
      nonce: expect.any(String),
      status: 'approved',
      approvedBy: 'alice',
      reason: 'from the CLI',
    });
    expect(answered).toContain('The approval is approved.');
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'alice' });
    expect(approval.votes.map((v) => [v.voter, v.approved])).toEqual([['alice', true]]);
  });
});

describe("markdown watcher: a file copied over the channel's own", () => {
  it('refuses the copy, puts the real file back, and the real file still takes a decision', async () => {
    const { id, text } = await pendingPayment('md-copied');
    // frank may decide on "vault", but this is the archive channel's file of the approval.
    const copy = await waitUntil(() => archive.read(id));
    saveDecision(id, copy, 'approved', 'frank', 'from the archive');
    const restored = await fileWith(id, 'not\\_written\\_for\\_channel');
    expect(parseEditable(restored)).toMatchObject({
      writtenState: 'pending',
      nonce: parseEditable(text).nonce,
      status: 'pending',
      approvedBy: '',
    });
    const untouched = await call(nc, 'get', { action_id: id });
    expect(untouched.status).toBe('pending');
    expect(untouched.votes).toEqual([]);

    saveDecision(id, restored, 'approved', 'frank', 'in the right folder');
    await fileWith(id, '<!-- countersign:state=approved ');
    expect(await call(nc, 'get', { action_id: id })).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
    });
  });
});

describe('markdown watcher: partial votes', () => {
  it('records one vote of two in the file and the service, then decides on the second', async () => {
    // 20,000 is at least the dual-approval amount: two finance approvals.
    const { id, text } = await pendingPayment('md-dual', { amount: 20_000 });
    saveDecision(id, text, 'approved', 'alice', 'first look');
    const voted = await fileWith(id, 'recorded');
    expect(voted).toContain('Approval by alice recorded: 1 of 2 approvals so far.');
    expectReopened(voted);
    expect(voted).toMatch(/^- alice approved at .*: first look$/m);
    const halfway = await call(nc, 'get', { action_id: id });
    expect(halfway.status).toBe('pending');
    expect(halfway.votes.map((v) => v.voter)).toEqual(['alice']);

    saveDecision(id, voted, 'approved', 'frank', 'second look');
    const decided = await fileWith(id, '<!-- countersign:state=approved ');
    expect(decided).toMatch(/^Status: approved$/m);
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval.status).toBe('approved');
    expect(approval.votes.map((v) => v.voter)).toEqual(['alice', 'frank']);
  });
});

describe('markdown watcher: the approval service is unavailable', () => {
  it('keeps the edit while the service is down and submits it once the service is back', async () => {
    const { id, text } = await pendingPayment('md-down');
    const notSubmitted = () =>
      run.logs().filter((l) => l.includes('markdown decision not submitted; will retry') && l.includes(id))
        .length;
    await approvalService.crash();
    try {
      saveDecision(id, text, 'approved', 'alice', 'while it was down');
      await waitUntil(() => notSubmitted() > 0, {
        timeout: 30_000,
        message: 'the watcher to find the approval service unavailable',
      });
      // Nothing was decided, so the person's edit is still in the file, not overwritten.
      expect(parseEditable(read(id) ?? '')).toMatchObject({
        writtenState: 'pending',
        status: 'approved',
        approvedBy: 'alice',
      });
    } finally {
      await approvalService.restart();
    }
    const decided = await fileWith(id, '<!-- countersign:state=approved ');
    expect(decided).toMatch(/^Approved By: alice$/m);
    const approval = await call(nc, 'get', { action_id: id });
    expect(approval).toMatchObject({
      status: 'approved',
      decided_by: 'alice',
      decision_reason: 'while it was down',
    });
  });
});

describe('markdown watcher and channel: a path that cannot be written', () => {
  it('retries writing the file while its path is a directory, and writes it once repaired', async () => {
    // Works as root too (a read-only mode would not stop root): a directory where the file goes.
    const id = actionId('md-blocked');
    mkdirSync(join(pathOf(id), 'in-the-way'), { recursive: true });
    await commandAs('dave', 'submit', {
      action_id: id,
      action_type: 'payment',
      description: 'Pay invoice blocked',
      context: { amount: 1500, currency: 'EUR' },
      requested_by: 'dave',
    });
    const failed = await waitUntil(
      async () => {
        const [delivery] = await deliveriesOf(run.pool, id);
        return delivery?.attempt_log.find((a) => a.outcome === 'retry') && delivery;
      },
      { timeout: 30_000, message: 'a failed attempt to write the blocked file' },
    );
    expect(failed.attempt_log[0]).toMatchObject({
      outcome: 'retry',
      error: `EISDIR: cannot write approval_${id}.md`,
    });

    // While the blocked path is in the folder, the watcher still takes decisions in other files.
    const other = await pendingPayment('md-neighbour');
    saveDecision(other.id, other.text, 'approved', 'alice');
    await fileWith(other.id, '<!-- countersign:state=approved ');

    rmSync(pathOf(id), { recursive: true });
    const written = await fileWith(id, '<!-- countersign:state=pending ');
    expectReopened(written);
    // The file is written before the attempt is recorded: wait for the record.
    const delivered = await waitUntil(async () => {
      const [delivery] = await deliveriesOf(run.pool, id);
      return delivery?.status === 'delivered' && delivery;
    });
    expect(delivered.attempt_log.at(-1)?.outcome).toBe('delivered');
    expect((await call(nc, 'get', { action_id: id })).status).toBe('pending');
  });
});
