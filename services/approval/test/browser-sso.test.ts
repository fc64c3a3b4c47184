/**
 * Single sign-on in a real browser (Debian's headless Chromium driven by playwright-core) against
 * a real OpenID provider on loopback (oidc-provider): frank signs in at the provider, lands on the
 * dashboard as the directory's frank and decides; signing out ends the session on the server;
 * an account the directory does not list, and one whose email the provider has not verified,
 * are refused. Screenshots are saved under .artifacts/screenshots/.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { launchChromium, SCREENSHOTS } from './chromium.js';
import { type OidcAccountId, startSsoHarness } from './sso-support.js';

const h = await startSsoHarness('browser_sso');
const { sso } = h;
const browser: BrowserContext = await launchChromium();

let page: Page;
/** Script errors and CSP violations on Countersign's own pages (the provider's are not ours). */
let consoleErrors: string[] = [];
beforeEach(async () => {
  await Promise.all(browser.pages().map((p) => p.close()));
  // Also the provider's session: each test signs in from scratch.
  await browser.clearCookies();
  consoleErrors = [];
  page = await browser.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || msg.text().startsWith('Failed to load resource')) return;
    if (page.url().startsWith(sso.base)) consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
});

const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** From the sign-in page through the provider's login and consent, back to Countersign. */
async function signInWithSso(account: OidcAccountId) {
  await page.goto(`${sso.base}/dashboard`);
  await Promise.all([
    page.waitForURL(`${sso.provider.issuer}/**`),
    page.getByRole('link', { name: 'Sign in with SSO' }).click(),
  ]);
  await page.locator('input[name="login"]').fill(account);
  await page.locator('input[name="password"]').fill('any password: the test provider does not check it');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${sso.base}/**`);
}

async function sessionCookie() {
  return (await browser.cookies(sso.base)).find((c) => c.name === 'countersign_session');
}

describe('single sign-on in a browser', () => {
  it('signs frank in at the provider; he decides as the directory identity; signing out ends the session on the server', async () => {
    const submitted = await h.api('POST', '/api/v1/approvals', {
      as: 'dave',
      body: {
        action_id: `sso-${Date.now()}`,
        action_type: 'payment',
        description: 'Pay invoice INV-3310 to Initech',
        context: { amount: 1500 },
      },
    });
    expect(submitted.status).toBe(200);
    expect(submitted.json.status).toBe('pending');
    const actionId = submitted.json.action_id as string;

    await signInWithSso('sub-7f3a-frank');
    await page.waitForURL(`${sso.base}/dashboard`);
    await page.getByText('Signed in as frank').waitFor();
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // The flow cookie is gone once used.
    expect((await browser.cookies(`${sso.base}/auth/oidc/callback`)).map((c) => c.name)).not.toContain(
      'countersign_oidc',
    );
    await shot('sso-dashboard');

    await page.locator(`tr[data-action-id="${actionId}"] a`).click();
    await page.waitForURL(`${sso.base}/dashboard/approvals/${actionId}`);
    await page.getByLabel(/Reason/).fill('Matches the purchase order');
    await Promise.all([
      page.waitForURL(/result=approved/),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    await page.getByText('You approved this approval.').waitFor();
    const decided = await h.api('GET', `/api/v1/approvals/${actionId}`, { as: 'alice' });
    expect(decided.json).toMatchObject({ status: 'approved', decided_by: 'frank' });
    expect(decided.json.votes).toMatchObject([{ voter: 'frank', approved: true }]);
    await shot('sso-approved');

    // Signing out: a copy of the cookie taken before stops working too.
    const copied = `countersign_session=${cookie?.value}`;
    expect(
      (await fetch(`${sso.base}/dashboard/fragments/badge`, { headers: { cookie: copied } })).status,
    ).toBe(200);
    await Promise.all([
      page.waitForURL(`${sso.base}/dashboard`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByRole('link', { name: 'Sign in with SSO' }).waitFor();
    expect(await sessionCookie()).toBeUndefined();
    expect(
      (await fetch(`${sso.base}/dashboard/fragments/badge`, { headers: { cookie: copied } })).status,
    ).toBe(401);
    expect(consoleErrors).toEqual([]);

    const signIns = sso.logs.filter((l) => l.includes('"dashboard sign-in"'));
    expect(signIns.some((l) => l.includes('"identity":"frank"') && l.includes('"method":"oidc"'))).toBe(true);
  });

  it('refuses an account the directory does not list, with a clear page and no session', async () => {
    await signInWithSso('sub-mallory');
    await page.getByRole('heading', { name: 'Not in the directory' }).waitFor();
    expect(await page.locator('main').textContent()).toContain('unknown_identity');
    expect(await sessionCookie()).toBeUndefined();
    await shot('sso-unknown-identity');
    expect(consoleErrors).toEqual([]);
    const refused = sso.logs.filter((l) => l.includes('dashboard single sign-on refused'));
    expect(refused.some((l) => l.includes('"sub":"sub-mallory"') && l.includes('unknown_identity'))).toBe(
      true,
    );
    // Logged without tokens: no JWT, no code.
    expect(sso.logs.join('\n')).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it("refuses an account claiming a directory person's email that the provider has not verified", async () => {
    await signInWithSso('sub-unverified');
    await page.getByRole('heading', { name: 'Not in the directory' }).waitFor();
    expect(await sessionCookie()).toBeUndefined();
    const refused = sso.logs.filter((l) => l.includes('dashboard single sign-on refused'));
    expect(
      refused.some((l) => l.includes('"sub":"sub-unverified"') && l.includes('"email_verified":false')),
    ).toBe(true);
  });

  it('refuses a callback whose state is not the one this browser started with', async () => {
    await page.goto(`${sso.base}/dashboard`);
    await shot('sso-sign-in');
    await Promise.all([
      page.waitForURL(`${sso.provider.issuer}/**`),
      page.getByRole('link', { name: 'Sign in with SSO' }).click(),
    ]);
    const response = await page.goto(`${sso.base}/auth/oidc/callback?code=forged&state=forged`);
    expect(response?.status()).toBe(400);
    await page.getByRole('heading', { name: 'Sign-in failed' }).waitFor();
    expect(await sessionCookie()).toBeUndefined();
  });
});
