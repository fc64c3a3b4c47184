/**
 * The dashboard's OpenID Connect routes: `/auth/oidc/start` sends the browser to the provider,
 * `/auth/oidc/callback` takes it back, maps the sign-in to the directory and opens the same
 * session a token sign-in opens. Both are rate-limited per address like the token sign-in.
 */
import type { HttpApp, Route } from './app.js';
import { html } from './html.js';
import { redirect, sendHtml } from './io.js';
import { OIDC_CALLBACK_PATH, OidcRefusal, type OidcSignIn } from './oidc.js';
import { messagePage } from './views.js';

export const OIDC_START_PATH = '/auth/oidc/start';

export function ssoRoutes(app: HttpApp, oidc: OidcSignIn): Route[] {
  return [
    {
      method: 'GET',
      path: OIDC_START_PATH,
      name: 'oidc_start',
      kind: 'page',
      handle: async ({ req, res }) => {
        app.signInLimiter.take(req);
        const { location, setCookie } = await oidc.begin();
        redirect(res, location, { 'Set-Cookie': setCookie });
      },
    },
    {
      method: 'GET',
      path: OIDC_CALLBACK_PATH,
      name: 'oidc_callback',
      kind: 'page',
      handle: async ({ req, res, url }) => {
        app.signInLimiter.take(req);
        // The URL the provider redirected to, as registered (behind a proxy, the request's own
        // host may differ from PUBLIC_URL); only the query comes from the request.
        const callbackUrl = new URL(oidc.redirectUri);
        callbackUrl.search = url.search;
        res.setHeader('Set-Cookie', oidc.clearFlow());
        let signedIn: { identity: string; fingerprint: string };
        try {
          signedIn = await oidc.complete(req, callbackUrl, app.directory());
        } catch (err) {
          if (!(err instanceof OidcRefusal)) throw err;
          app.logger.warn({ reason: err.reason, ...err.who }, 'dashboard single sign-on refused');
          const status = err.reason === 'unknown_identity' ? 403 : 400;
          return sendHtml(
            res,
            status,
            messagePage(
              err.reason === 'unknown_identity' ? 'Not in the directory' : 'Sign-in failed',
              err.message,
              html`<p class="small muted">Reason: <code>${err.reason}</code></p>
                <p><a href="/dashboard">Sign-in page</a></p>`,
            ),
          );
        }
        app.logger.info({ identity: signedIn.identity, method: 'oidc' }, 'dashboard sign-in');
        res.setHeader('Set-Cookie', [oidc.clearFlow(), app.sessions.issue(signedIn)]);
        // Not a redirect: the session cookie is SameSite=Strict, and a redirect that continues
        // the provider's cross-site navigation would arrive without it. A page of this site
        // that moves on by itself makes the next request a same-site one.
        sendHtml(
          res,
          200,
          messagePage(
            'Signed in',
            `Signed in as ${signedIn.identity}.`,
            html`<p><a href="/dashboard">Continue to the dashboard</a></p>`,
            html`<meta http-equiv="refresh" content="0;url=/dashboard">`,
          ),
        );
      },
    },
  ];
}
