/**
 * `pnpm receipt verify`: checks a receipt offline against a saved JWK Set or the JWKS URL, prints
 * the verified claims (exit 0), and refuses a bad signature, an unknown kid, a wrong typ and a
 * wrong alg with the reason (exit 1).
 */
import { spawn } from 'node:child_process';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECEIPT_TYP, type ReceiptClaims } from '@countersign/contracts';
import { REPO_ROOT } from '@countersign/devinfra';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, Keyring, keySetText } from '../packages/runtime/src/signing-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'receipt-cli-'));
const ring = Keyring.parse(keySetText([generateSigningJwk('k1')]), 'test');
const jwksFile = join(dir, 'jwks.json');
writeFileSync(jwksFile, JSON.stringify(ring.jwks()));

const claims: ReceiptClaims = {
  iss: 'https://approvals.example',
  sub: 'pay-42',
  iat: 1_800_000_000,
  action_id: 'pay-42',
  request_hash: 'a'.repeat(64),
  status: 'approved',
  requested_by: 'billing-job',
  decided_by: 'frank',
  decided_at: '2026-12-03T10:00:00.000Z',
  votes: [{ identity: 'frank', decision: 'approved', at: '2026-12-03T10:00:00.000Z' }],
  policy_revision: 'rev-1',
};
const receipt = ring.sign(claims, RECEIPT_TYP);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const [header, , signature] = receipt.split('.') as [string, string, string];

// The JWKS over HTTP, as the approval service serves it.
const server = createServer((req, res) => {
  if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(ring.jwks()));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
const address = server.address() as { port: number };
const jwksUrl = `http://127.0.0.1:${address.port}/.well-known/jwks.json`;

function cli(
  args: string[],
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/receipt.ts', ...args], {
    cwd: REPO_ROOT,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdin.end(stdin ?? '');
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

function signedWith(headerFields: Record<string, unknown>, payload: unknown = claims): string {
  const input = `${b64(headerFields)}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), generateKeyPairSync('ed25519').privateKey).toString('base64url')}`;
}

describe('pnpm receipt verify', () => {
  it('prints the verified claims of a receipt, a receipt file or an approval, with a JWKS file or URL', async () => {
    const direct = await cli(['verify', receipt, '--jwks', jwksFile]);
    expect(direct.code).toBe(0);
    expect(JSON.parse(direct.stdout)).toEqual(claims);

    const file = join(dir, 'receipt.jws');
    writeFileSync(file, `${receipt}\n`);
    const viaUrl = await cli([
      'verify',
      file,
      '--jwks',
      jwksUrl,
      '--action-id',
      'pay-42',
      '--status',
      'approved',
    ]);
    expect(viaUrl.code).toBe(0);
    expect(JSON.parse(viaUrl.stdout)).toEqual(claims);

    const approval = JSON.stringify({ action_id: 'pay-42', status: 'approved', receipt });
    const fromStdin = await cli(['verify', '-', '--jwks', jwksFile], approval);
    expect(fromStdin.code).toBe(0);
    // Inside an approval, the receipt must attest that approval.
    const other = JSON.stringify({ action_id: 'pay-43', status: 'approved', receipt });
    const mismatch = await cli(['verify', '-', '--jwks', jwksFile], other);
    expect(mismatch).toMatchObject({ code: 1, stdout: '' });
    expect(mismatch.stderr).toMatch(
      /receipt refused \(mismatch\): the receipt attests action_id pay-42, not pay-43/,
    );
  });

  it('exits 1 with the reason on a bad signature, an unknown kid, a wrong typ or alg', async () => {
    const cases: [string, RegExp][] = [
      [`${header}.${b64({ ...claims, status: 'rejected' })}.${signature}`, /\(bad_signature\)/],
      [signedWith({ alg: 'EdDSA', kid: 'k1', typ: RECEIPT_TYP }), /\(bad_signature\)/],
      [
        signedWith({ alg: 'EdDSA', kid: 'k9', typ: RECEIPT_TYP }),
        /\(unknown_kid\): no trusted key has kid k9/,
      ],
      [
        signedWith({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' }),
        /\(bad_header\): typ must be countersign-receipt\+jwt/,
      ],
      [signedWith({ alg: 'ES256', kid: 'k1', typ: RECEIPT_TYP }), /\(bad_header\): alg must be EdDSA/],
      [`${b64({ alg: 'none', kid: 'k1', typ: RECEIPT_TYP })}.${b64(claims)}.`, /\(malformed\)/],
    ];
    const hsInput = `${b64({ alg: 'HS256', kid: 'k1', typ: RECEIPT_TYP })}.${b64(claims)}`;
    const hs = `${hsInput}.${createHmac('sha256', ring.jwks().keys[0]?.x as string)
      .update(hsInput)
      .digest('base64url')}`;
    cases.push([hs, /\(bad_header\): alg must be EdDSA, not "HS256"/]);
    for (const [token, reason] of cases) {
      const run = await cli(['verify', token, '--jwks', jwksFile]);
      expect(run.code, token).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(reason);
    }
  });

  it('exits 2 on a usage error', async () => {
    const run = await cli(['verify', receipt]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^usage: pnpm receipt verify/);
  });
});
