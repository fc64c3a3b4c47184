/**
 * Reminders and escalation as the policy decides them, against the real services with short
 * durations: a policy directory whose data asks a payment to be reminded every second and
 * escalated (to ops and eve, the deadline moved by a minute) after two.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Subjects } from '@countersign/contracts';
import { waitUntil } from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_DIR } from '../../policy/src/config.js';
import { escalateDue } from '../src/lifecycle/index.js';
import { call, eventCounts, lastEvent, refusal, request, startHarness, testLogger } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'countersign-follow-ups-'));
cpSync(DEFAULT_POLICY_DIR, dir, { recursive: true });
const dataFile = join(dir, 'countersign', 'data.json');
const data = JSON.parse(readFileSync(dataFile, 'utf8'));
data.follow_ups.by_action_type.payment = {
  remind_after_seconds: 1,
  escalate_after_seconds: 2,
  escalate_to: { roles: ['ops'], people: ['eve'] },
  escalation_extends_seconds: 60,
  max_extension_seconds: 600,
};
writeFileSync(dataFile, JSON.stringify(data));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const h = await startHarness('follow-ups', {}, testLogger, {
  policyEnv: { POLICY_DIR: dir, POLICY_BUCKET: '' },
});

const payment = () => call(h.nc, 'submit', request('follow', { context: { amount: 1500 } }));
const history = async (action_id: string) => (await call(h.nc, 'get', { action_id })).history;
const count = async (subject: string) => (await eventCounts(h.nc, subject))[subject] ?? 0;

describe('reminders', () => {
  it('reminds once per interval while nobody decides, and stops at the decision', async () => {
    const pending = await payment();
    expect(pending.policy).toMatchObject({ remind_after_seconds: 1, escalate_after_seconds: 2 });
    const subject = Subjects.reminder(pending.action_id);
    await waitUntil(async () => (await count(subject)) >= 2, { message: 'two reminders', timeout: 10_000 });
    const reminded = (await history(pending.action_id)).filter((e) => e.event === 'reminded');
    expect(reminded.map((e) => e.data.round).slice(0, 2)).toEqual([1, 2]);
    // One interval apart, never in a burst.
    const [first, second] = reminded.map((e) => Date.parse(e.at));
    expect((second as number) - (first as number)).toBeGreaterThanOrEqual(1000);
    const event = await lastEvent(h.nc, subject);
    expect(event?.type).toBe('approval.reminder');
    expect(event?.id).toMatch(new RegExp(`^${pending.action_id}\\.reminder\\.\\d+$`));

    await call(h.nc, 'decide', { action_id: pending.action_id, approved: true }, { as: 'frank' });
    const after = await count(subject);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count(subject)).toBe(after);
  });
});

describe('escalation', () => {
  it('adds the escalation’s approvers, moves the deadline, audits and announces it once', async () => {
    const pending = await payment();
    // bob holds ops, not finance: not an approver until the approval escalates to ops
    expect(
      (await refusal(call(h.nc, 'decide', { action_id: pending.action_id, approved: true }, { as: 'bob' })))
        .code,
    ).toBe('forbidden');
    const subject = Subjects.escalated(pending.action_id);
    await waitUntil(async () => (await count(subject)) === 1, {
      message: 'the escalation',
      timeout: 10_000,
    });
    // Sweeps racing each other (replicas) escalate nothing twice.
    await Promise.all([1, 2, 3].map(() => escalateDue(h.service.deps)));
    const escalated = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(escalated.escalation).toMatchObject({ roles: ['ops'], people: ['eve'] });
    expect(Date.parse(escalated.expires_at) - Date.parse(pending.expires_at)).toBe(60_000);
    expect(escalated.history.filter((e) => e.event === 'escalated')).toHaveLength(1);
    expect((await lastEvent(h.nc, subject))?.data.escalation).toEqual(escalated.escalation);
    expect(await count(subject)).toBe(1);
    expect(escalated.status).toBe('pending');

    const decided = await call(
      h.nc,
      'decide',
      { action_id: pending.action_id, approved: true },
      { as: 'bob' },
    );
    expect(decided).toMatchObject({ status: 'approved', decided_by: 'bob' });
  });

  it('lets a person the approval escalated to decide, and never the requester', async () => {
    const pending = await payment();
    await waitUntil(async () => (await call(h.nc, 'get', { action_id: pending.action_id })).escalation, {
      message: 'the escalation',
      timeout: 10_000,
    });
    const err = await refusal(
      call(h.nc, 'decide', { action_id: pending.action_id, approved: true }, { as: 'dave' }),
    );
    expect(err.code).toBe('forbidden');
    const decided = await call(
      h.nc,
      'decide',
      { action_id: pending.action_id, approved: false },
      { as: 'eve' },
    );
    expect(decided).toMatchObject({ status: 'rejected', decided_by: 'eve' });
  });
});

describe('an approver extends the deadline', () => {
  const codes = (err: { details?: Record<string, unknown> }) =>
    ((err.details?.reasons as { code: string }[] | undefined) ?? []).map((r) => r.code);
  const extendAs = (as: string, action_id: string, seconds: number) =>
    call(h.nc, 'extend', { action_id, seconds, reason: 'waiting for the invoice' }, { as });

  it('once, within the policy’s limit, audited; never the requester, never a non-approver', async () => {
    const pending = await payment();
    expect(codes(await refusal(extendAs('dave', pending.action_id, 60)))).toContain('self_approval');
    expect(codes(await refusal(extendAs('erin', pending.action_id, 60)))).toEqual(['missing_role']);
    expect(codes(await refusal(extendAs('frank', pending.action_id, 601)))).toEqual(['extension_too_long']);

    const extended = await extendAs('frank', pending.action_id, 600);
    expect(Date.parse(extended.expires_at) - Date.parse(pending.expires_at)).toBe(600_000);
    expect(extended.extension).toMatchObject({ by: 'frank', seconds: 600 });
    expect(codes(await refusal(extendAs('alice', pending.action_id, 60)))).toEqual(['already_extended']);
    const { history } = await call(h.nc, 'get', { action_id: pending.action_id });
    expect(history.filter((e) => e.event === 'extended')).toEqual([
      expect.objectContaining({
        actor: 'frank',
        reason: 'waiting for the invoice',
        data: expect.objectContaining({ seconds: 600 }),
      }),
    ]);
    // Still pending: an extension decides nothing.
    expect((await call(h.nc, 'get', { action_id: pending.action_id })).status).toBe('pending');
  });
});
