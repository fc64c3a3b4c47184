/**
 * The approvers' web surface in a real browser (Debian's headless Chromium driven by
 * playwright-core) against the real services: the review link page, deciding through it while a
 * requester waits with the SDK, a reused link, and the dashboard's live list. Screenshots are
 * saved under .artifacts/screenshots/ for people to look at.
 */
import { join } from 'node:path';
import { CountersignClient } from '@countersign/client';
import type { BrowserContext, Page } from 'playwright-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, SCREENSHOTS } from './chromium.js';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

const h = await startHttpHarness('browser');
const browser: BrowserContext = await launchChromium();

let page: Page;
let consoleErrors: string[] = [];
beforeEach(async () => {
  await Promise.all(browser.pages().map((p) => p.close()));
  await browser.clearCookies();
  consoleErrors = [];
  page = await browser.newPage();
  // A CSP violation or a script error shows up here (a page's own 4xx status is expected).
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
});

const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

const submitPending = async (overrides: Parameters<typeof request>[1] = {}) => {
  const approval = await call(h.nc, 'submit', request('web', { context: { amount: 1500 }, ...overrides }));
  expect(approval.status).toBe('pending');
  return approval;
};

describe('review link in a browser', () => {
  it('renders the page; opening it changes nothing; approving decides and the waiting SDK call resolves', async () => {
    const approval = await submitPending({
      description: 'Pay invoice INV-2041 to ACME GmbH <b>urgent</b>',
      context: { amount: 1500, currency: 'EUR', vendor: 'ACME GmbH', invoice: 'INV-2041' },
    });
    const link = h.reviewLink(approval.action_id, 'alice', approval.expires_at);
    const waiting = new CountersignClient(h.nc).waitForDecision(approval.action_id, { timeout: 30_000 });

    const response = await page.goto(link);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.locator('h1').textContent()).toBe('payment');
    // The hostile-looking description is text, not markup.
    expect(await page.locator('p.description').textContent()).toBe(approval.description);
    expect(await page.locator('p.description b').count()).toBe(0);
    expect(await page.locator('table.context').textContent()).toContain('ACME GmbH');
    expect(await page.getByRole('button', { name: 'Approve' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Reject' }).isVisible()).toBe(true);
    await shot('review-page');
    await page.reload();
    expect(await call(h.nc, 'get', { action_id: approval.action_id })).toMatchObject({
      status: 'pending',
      votes: [],
    });

    await page.getByLabel(/Reason/).fill('Invoice matches the purchase order');
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Approve' }).click()]);
    await page.getByRole('heading', { name: `You approved ${approval.action_id}` }).waitFor();
    await shot('review-approved');

    const decided = await waiting;
    expect(decided).toMatchObject({
      action_id: approval.action_id,
      status: 'approved',
      decided_by: 'alice',
      decision_reason: 'Invoice matches the purchase order',
    });

    // The same link again: refused, nothing changes.
    const again = await page.goto(link);
    expect(again?.status()).toBe(409);
    await page.getByRole('heading', { name: 'This review link was already used' }).waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    await shot('review-reused');
    expect((await call(h.nc, 'get', { action_id: approval.action_id })).votes).toHaveLength(1);
    expect(consoleErrors).toEqual([]);
  });
});

describe('dashboard in a browser', () => {
  const signIn = async (identity: 'alice' | 'frank') => {
    await page.goto(`${h.base}/dashboard`);
    await page.getByLabel('API token').fill(h.tokens[identity]);
    await Promise.all([
      page.waitForURL(`${h.base}/dashboard`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    await page.getByText(`Signed in as ${identity}`).waitFor();
  };

  it('lists a new pending approval without reload and removes it when decided over NATS', async () => {
    await signIn('alice');
    const cookies = await browser.cookies(h.base);
    const session = cookies.find((c) => c.name === 'countersign_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(session?.value).not.toContain(h.tokens.alice);

    await page.waitForSelector('body[data-events="open"]');
    // Marks this document: a reload would lose the mark.
    await page.evaluate(() => {
      (globalThis as unknown as { countersignMark: number }).countersignMark = 1;
    });
    const badge = async () => Number(await page.locator('.badge .count').textContent());
    const before = await badge();

    const approval = await submitPending({ description: 'Refund order 7731 to the customer' });
    const row = page.locator(`tr[data-action-id="${approval.action_id}"]`);
    await row.waitFor({ state: 'visible' });
    expect(await row.textContent()).toContain('Refund order 7731');
    await expect.poll(badge).toBe(before + 1);
    await shot('dashboard-live-pending');

    await call(h.nc, 'decide', { action_id: approval.action_id, approved: true, decided_by: 'frank' });
    await row.waitFor({ state: 'detached' });
    await expect.poll(badge).toBe(before);
    expect(
      await page.evaluate(() => (globalThis as unknown as { countersignMark?: number }).countersignMark),
    ).toBe(1);
    await shot('dashboard-after-decision');
    expect(consoleErrors).toEqual([]);
  });

  it('shows the detail view with context, reasons and history, and rejects with a reason as the signed-in identity', async () => {
    const approval = await submitPending({ context: { amount: 1500, vendor: 'Globex' } });
    await signIn('frank');
    await page.locator(`tr[data-action-id="${approval.action_id}"] a`).click();
    await page.waitForURL(`${h.base}/dashboard/approvals/${approval.action_id}`);
    expect(await page.locator('table.context').textContent()).toContain('Globex');
    expect(await page.locator('table.history').textContent()).toContain('requested');
    for (const reason of approval.policy.reasons) {
      expect(await page.locator('ul.reasons').textContent()).toContain(reason.code);
    }
    await shot('dashboard-detail');

    await page.getByLabel(/Reason/).fill('Vendor not on the approved list');
    await Promise.all([
      page.waitForURL(/result=rejected/),
      page.getByRole('button', { name: 'Reject' }).click(),
    ]);
    await page.getByText('You rejected this approval.').waitFor();
    expect(await page.locator('table.history').textContent()).toContain('rejected');
    expect(await call(h.nc, 'get', { action_id: approval.action_id })).toMatchObject({
      status: 'rejected',
      decided_by: 'frank',
      decision_reason: 'Vendor not on the approved list',
    });
    await shot('dashboard-rejected');
    expect(consoleErrors).toEqual([]);
  });
});
