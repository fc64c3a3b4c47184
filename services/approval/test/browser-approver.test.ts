/**
 * The approver's day in a real browser (Debian's headless Chromium, playwright-core) against
 * the real services: "Waiting for me" (only what the policy lets the signed-in person decide,
 * updated live), bulk approve with a result per item (one of them decided elsewhere meanwhile),
 * the export of a filtered list with its audit history (CSV with formula injection disarmed,
 * JSON Lines), and the analytics page's server-rendered SVG charts. Screenshots are saved under
 * .artifacts/screenshots/.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, SCREENSHOTS } from './chromium.js';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

const h = await startHttpHarness('browser_approver');
const browser: BrowserContext = await launchChromium();

let page: Page;
let consoleErrors: string[] = [];
beforeEach(async () => {
  await Promise.all(browser.pages().map((p) => p.close()));
  await browser.clearCookies();
  consoleErrors = [];
  page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
});

const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

const signIn = async (identity: 'alice' | 'frank') => {
  await page.goto(`${h.base}/dashboard`);
  await page.getByLabel('API token').fill(h.tokens[identity]);
  await Promise.all([
    page.waitForURL(`${h.base}/dashboard`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.getByText(`Signed in as ${identity}`).waitFor();
};

/** A payment of 1,500: one approval from finance (alice, frank). */
const payment = async (prefix: string, overrides: Parameters<typeof request>[1] = {}) =>
  call(h.nc, 'submit', request(prefix, { context: { amount: 1500 }, ...overrides }));

const row = (id: string) => page.locator(`#inbox tr[data-action-id="${id}"]`);

describe('the approver in a browser', () => {
  it('shows what is waiting for me, live, and bulk-approves with a result per item', async () => {
    const mine = [await payment('inbox-a'), await payment('inbox-b'), await payment('inbox-c')];
    // Not frank's to decide: a production deploy waits for ops, and frank asked for this payment himself.
    const deploy = await call(
      h.nc,
      'submit',
      request('inbox-deploy', { action_type: 'deploy', context: { environment: 'production' } }),
    );
    const own = await payment('inbox-own', { requested_by: 'frank' });
    for (const a of [...mine, deploy, own]) expect(a.status).toBe('pending');

    await signIn('frank');
    await page.getByRole('link', { name: 'Waiting for me' }).click();
    await page.waitForURL(`${h.base}/dashboard/inbox`);
    for (const a of mine) await row(a.action_id).waitFor();
    expect(await row(deploy.action_id).count()).toBe(0);
    expect(await row(own.action_id).count()).toBe(0);
    await page.waitForSelector('body[data-events="open"]');

    // A new payment shows up without a reload, and a checked box stays checked meanwhile.
    await row(mine[0]?.action_id as string)
      .getByRole('checkbox')
      .check();
    const late = await payment('inbox-late');
    await row(late.action_id).waitFor();
    expect(
      await row(mine[0]?.action_id as string)
        .getByRole('checkbox')
        .isChecked(),
    ).toBe(true);
    await shot('inbox-waiting-for-me');

    // alice decides inbox-b on NATS after frank submitted his selection and before the service
    // reads it: his bulk item for it is refused. (Decided any earlier, the live inbox would drop
    // the row before the click, and the race would decide what the form holds.)
    await row(mine[1]?.action_id as string)
      .getByRole('checkbox')
      .check();
    await page.route('**/dashboard/bulk', async (route) => {
      await call(h.nc, 'decide', {
        action_id: mine[1]?.action_id as string,
        approved: true,
        decided_by: 'alice',
      });
      await route.continue();
    });
    await page.getByLabel(/Reason/).fill('Quarter-end batch');
    await Promise.all([
      page.waitForURL(`${h.base}/dashboard/bulk`),
      page.getByRole('button', { name: 'Approve selected' }).click(),
    ]);
    await page.unroute('**/dashboard/bulk');
    await page.getByRole('heading', { name: 'Approved 1 of 2' }).waitFor();
    const result = (id: string) => page.locator(`table.bulk-results tr[data-action-id="${id}"]`);
    expect(await result(mine[0]?.action_id as string).getAttribute('data-result')).toBe('ok');
    expect(await result(mine[1]?.action_id as string).getAttribute('data-result')).toBe('already_decided');
    expect(await result(mine[1]?.action_id as string).textContent()).toContain('already approved by alice');
    await shot('inbox-bulk-results');

    expect(await call(h.nc, 'get', { action_id: mine[0]?.action_id as string })).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
      decision_reason: 'Quarter-end batch',
    });
    // The decided ones left the inbox; the rest wait.
    await row(mine[0]?.action_id as string).waitFor({ state: 'detached' });
    expect(await row(mine[2]?.action_id as string).count()).toBe(1);
    expect(consoleErrors).toEqual([]);
  });

  it('decides each bulk item as the policy allows: frank cannot approve a deploy or his own payment', async () => {
    const deploy = await call(
      h.nc,
      'submit',
      request('bulk-deploy', { action_type: 'deploy', context: { environment: 'production' } }),
    );
    const own = await payment('bulk-own', { requested_by: 'frank' });
    await signIn('frank');
    await page.goto(`${h.base}/dashboard/inbox`);
    const csrf = await page.locator('form#bulk input[name=csrf]').getAttribute('value');
    // A hand-made form post with ids the page never offered: each is authorized on its own.
    const res = await page.request.post(`${h.base}/dashboard/bulk`, {
      headers: { origin: h.base },
      form: { csrf: csrf ?? '', decision: 'approve', action_id: deploy.action_id },
    });
    expect(res.status()).toBe(200);
    expect(await res.text()).toContain('data-result="forbidden"');
    const forged = await page.request.post(`${h.base}/dashboard/bulk`, {
      headers: { origin: h.base },
      form: { csrf: 'not-the-token', decision: 'approve', action_id: own.action_id },
    });
    expect(forged.status()).toBe(403);
    for (const a of [deploy, own])
      expect((await call(h.nc, 'get', { action_id: a.action_id })).status).toBe('pending');
  });

  it('exports the filtered list with its audit history as CSV and JSON Lines', async () => {
    const hostile = await payment('export', {
      action_type: 'refund',
      description: '=HYPERLINK("http://evil.example","Click, "here"")',
    });
    await call(h.nc, 'decide', {
      action_id: hostile.action_id,
      approved: false,
      decided_by: 'frank',
      reason: '@SUM(A1)',
    });
    await signIn('alice');
    await page.goto(`${h.base}/dashboard?status=all&action_type=refund`);
    await shot('dashboard-export-links');
    const csvHref = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
    expect(csvHref).toBe('/dashboard/export?status=all&action_type=refund&format=csv');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^approvals-.*\.csv$/);
    const csv = await (await page.request.get(`${h.base}${csvHref}`)).text();
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'action_id,action_type,description,requested_by,risk,status,created_at,decided_by,decided_at,decision_reason,event_seq,event,event_actor,event_at,event_reason,event_data',
    );
    const rows = lines.slice(1).filter((l) => l.startsWith(hostile.action_id));
    // One row per audit event: requested, voted, rejected.
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(
      rows.every((l) => l.includes(`,"'=HYPERLINK(""http://evil.example"",""Click, ""here"""")",dave,`)),
    ).toBe(true);
    expect(csv).toContain(",'@SUM(A1),");
    expect(csv).not.toContain(',=HYPERLINK');

    const jsonl = await page.request.get(
      `${h.base}/dashboard/export?status=rejected&action_type=refund&format=jsonl`,
    );
    expect(jsonl.headers()['content-type']).toContain('application/x-ndjson');
    const records = (await jsonl.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const record = records.find((r) => r.action_id === hostile.action_id);
    expect(record).toMatchObject({
      status: 'rejected',
      decided_by: 'frank',
      description: hostile.description,
    });
    expect(record.history.map((e: { event: string }) => e.event)).toEqual(
      expect.arrayContaining(['voted', 'rejected']),
    );
    expect(records.every((r) => r.action_type === 'refund' && r.status === 'rejected')).toBe(true);

    // Signed out, nothing is exported.
    const anonymous = await fetch(`${h.base}/dashboard/export?format=csv`);
    expect(anonymous.status).toBe(401);
    expect(consoleErrors).toEqual([]);
  });

  it('renders analytics with server-side SVG charts', async () => {
    const approved = await payment('analytics-ok');
    const rejected = await payment('analytics-no');
    await call(h.nc, 'decide', { action_id: approved.action_id, approved: true, decided_by: 'alice' });
    await call(h.nc, 'decide', { action_id: rejected.action_id, approved: false, decided_by: 'frank' });
    const pending = (await call(h.nc, 'stats', {})).by_status.pending;
    await signIn('alice');
    await page.getByRole('link', { name: 'Analytics' }).click();
    await page.waitForURL(`${h.base}/dashboard/analytics`);
    expect(Number(await page.locator('[data-stat="pending"]').textContent())).toBe(pending);
    expect(await page.locator('[data-stat="median"]').textContent()).toMatch(/^\d+(s|m \d\ds)$/);
    expect(await page.locator('[data-stat="p90"]').textContent()).toMatch(/^\d+(s|m \d\ds)$/);
    const charts = page.locator('svg.chart');
    expect(await charts.count()).toBe(2);
    expect(await page.locator('svg.chart g.row[data-label="payment"]').count()).toBe(1);
    expect(await page.locator('svg.chart g.row[data-label="alice"]').count()).toBe(1);
    expect(await page.locator('svg.chart g.row[data-label="frank"] rect').count()).toBeGreaterThan(0);
    await shot('analytics');
    // Live: a new pending approval updates the count without a reload.
    await page.waitForSelector('body[data-events="open"]');
    await payment('analytics-live');
    await expect
      .poll(async () => Number(await page.locator('[data-stat="pending"]').textContent()))
      .toBe(pending + 1);
    expect(consoleErrors).toEqual([]);
  });
});
