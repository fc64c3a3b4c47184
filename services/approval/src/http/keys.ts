/**
 * `GET /.well-known/jwks.json`: the public keys decision receipts are signed with (the same JWK
 * Set as `approval.keys` on NATS). Public by design: no token, cacheable, readable cross-origin,
 * so that anyone holding a receipt can check it. Retired keys stay in it, so old receipts verify.
 */
import type { HttpApp, Route } from './app.js';
import { sendText } from './io.js';

/**
 * How long caches may keep the key set. Short: a verifier that meets an unknown kid refetches,
 * and a rotation (new key first) reaches everyone within minutes.
 */
const MAX_AGE_SECONDS = 300;

export function keysRoutes(app: HttpApp): Route[] {
  return [
    {
      method: 'GET',
      path: '/.well-known/jwks.json',
      name: 'jwks',
      kind: 'api',
      handle: async ({ res }) => {
        res.setHeader('Cache-Control', `public, max-age=${MAX_AGE_SECONDS}`);
        res.setHeader('Access-Control-Allow-Origin', '*');
        res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
        sendText(res, 200, 'application/jwk-set+json', JSON.stringify(app.deps.keyring.jwks()));
      },
    },
  ];
}
