import type { IncomingMessage } from 'node:http';
import { Directory, type DirectoryHolder, parseApiTokens, TokenStore } from '@countersign/runtime';
import { describe, expect, it } from 'vitest';
import { authenticate } from './http.js';

const directory = Directory.parse(`
services:
  agent-a: { may_request: ["*"] }
  agent-c: { may_request: ["*"] }
  mcp-gateway: { acts_for: [agent-a] }
`);
const holder: DirectoryHolder = { current: () => directory, onChange: () => {}, stop: async () => {} };
const tokens = new TokenStore(
  parseApiTokens(
    'token-of-agent-a-0123456789:agent-a,token-of-agent-c-0123456789:agent-c,token-of-ghost-0123456789:ghost',
  ),
);
const options = { tokens, directory: holder, gateway: 'mcp-gateway' };
const request = (authorization?: string) =>
  ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;

describe('authenticate', () => {
  it('proves the agent of a valid token that the gateway acts for', () => {
    expect(authenticate(request('Bearer token-of-agent-a-0123456789'), options)).toEqual({
      identity: 'agent-a',
    });
  });

  it('answers 401 without a token or with a wrong one', () => {
    for (const header of [undefined, 'Bearer wrong-token-0123456789', 'Basic abc']) {
      const result = authenticate(request(header), options);
      expect('error' in result && result.error.details?.status).toBe(401);
    }
  });

  it('refuses an agent the gateway does not act for, or one the directory does not list (403)', () => {
    const notServed = authenticate(request('Bearer token-of-agent-c-0123456789'), options);
    expect('error' in notServed && notServed.error.details?.reasons).toEqual([
      expect.objectContaining({ code: 'not_served' }),
    ]);
    const unknown = authenticate(request('Bearer token-of-ghost-0123456789'), options);
    expect('error' in unknown && unknown.error.details?.reasons).toEqual([
      expect.objectContaining({ code: 'unknown_identity' }),
    ]);
  });
});
