/**
 * Signed decision receipts (issue 14, item 2) against the real services: every terminal approval
 * carries a receipt that a standard JOSE library (`jose`) verifies against the JWKS the service
 * publishes over HTTP; the decided event, approval.get and the HTTP API carry the same one; an
 * edited receipt, one signed by another key, `alg: none` and HS256 keyed with the public key are
 * refused, and a forged decision never makes a gated function run; after a key rotation old and
 * new receipts both verify.
 */
import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CountersignClient,
  ReceiptInvalidError,
  receiptSha256,
  requireApproval,
  verifyReceipt,
} from '@countersign/client';
import {
  type Approval,
  encodeApprovalEvent,
  type Jwks,
  RECEIPT_TYP,
  type ReceiptClaims,
  Streams,
  Subjects,
} from '@countersign/contracts';
import { call, waitUntil } from '@countersign/test-fixtures';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { newKeySetText, rotatedKeySetText } from '../packages/runtime/src/signing-keys.js';
import { httpUrlOf, spawnApproval, startSystem } from './support.js';

const keyFile = join(mkdtempSync(join(tmpdir(), 'receipts-')), 'signing-keys.json');
writeFileSync(keyFile, newKeySetText('first'), { mode: 0o600 });
const token = randomBytes(24).toString('hex');
const approvalEnv = {
  SIGNING_KEYS_FILE: keyFile,
  HTTP_PORT: '0',
  REVIEW_LINK_SECRET: randomBytes(32).toString('base64url'),
  API_TOKENS: `${token}:alice`,
};
const system = await startSystem('receipts', approvalEnv);
const ops = await system.nats.connect('ops');
const daveNc = await system.nats.connect('dave');
const billingNc = await system.nats.connect('billing-job');
const frankNc = await system.nats.connect('frank');
afterAll(async () => {
  await Promise.all([ops.drain(), daveNc.drain(), billingNc.drain(), frankNc.drain()]);
});
const dave = new CountersignClient(daveNc, { identity: 'dave', timeout: 10_000 });
const billing = new CountersignClient(billingNc, { identity: 'billing-job', timeout: 10_000 });
const frank = new CountersignClient(frankNc, { identity: 'frank', timeout: 10_000 });

let n = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++n}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const JOSE_OPTIONS = { algorithms: ['EdDSA'], typ: RECEIPT_TYP };

let approvalProcess = system.approval;
const httpUrl = () => httpUrlOf(approvalProcess) as string;
const jwks = async () => (await (await fetch(`${httpUrl()}/.well-known/jwks.json`)).json()) as Jwks;
async function jwksOverHttp(): Promise<{ jwks: Jwks; response: Response }> {
  const response = await fetch(`${httpUrl()}/.well-known/jwks.json`);
  return { jwks: (await response.clone().json()) as Jwks, response };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const payment = (action_id: string, amount: number) => ({
  action_id,
  action_type: 'payment',
  description: `Pay ${amount}`,
  context: { amount, currency: 'EUR' },
});

/** A decided event as only the approval service should publish it (ops may publish anything). */
function publishDecided(approval: Approval): void {
  ops.publish(
    Subjects.decided(approval.action_id),
    encodeApprovalEvent({
      id: `${approval.action_id}.decided`,
      type: 'approval.decided',
      occurred_at: new Date().toISOString(),
      data: approval,
    }),
  );
}

/** An approval's pending record, once the intake has stored it. */
async function pendingOf(client: CountersignClient, actionId: string): Promise<Approval> {
  return waitUntil(async () => {
    const found = await client.get(actionId).catch(() => undefined);
    return found?.status === 'pending' ? found : undefined;
  });
}

describe('a receipt', () => {
  it('verifies with jose against the JWKS served over HTTP (cacheable) and over NATS', async () => {
    const approval = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'policy' });
    const { response, jwks: served } = await jwksOverHttp();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(response.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(served.keys.map((k) => k.kid)).toEqual(['first']);
    for (const key of served.keys) expect(key).not.toHaveProperty('d');
    expect(await call(daveNc, 'keys', {})).toEqual(served);

    const receipt = approval.receipt as string;
    expect(decodeProtectedHeader(receipt)).toEqual({ alg: 'EdDSA', kid: 'first', typ: RECEIPT_TYP });
    const { payload } = await jwtVerify(receipt, createLocalJWKSet(served), JOSE_OPTIONS);
    expect(payload).toMatchObject({
      iss: 'countersign',
      sub: approval.action_id,
      action_id: approval.action_id,
      request_hash: approval.request_hash,
      status: 'approved',
      requested_by: 'dave',
      decided_by: 'policy',
      decided_at: approval.decided_at,
      votes: [],
      policy_revision: approval.policy.revision,
    });
    expect(payload.iat).toBeTypeOf('number');
  });

  it('is the same on the decided event, approval.get and the HTTP API, and names the votes', async () => {
    const actionId = fresh('pay');
    const waiting = billing.requestAndWait(payment(actionId, 1500), { timeout: 20_000 });
    const pending = await pendingOf(billing, actionId);
    expect(pending.receipt).toBeNull();
    await frank.decide({ action_id: actionId, approved: true, reason: 'invoice checked' });
    const approval = await waiting;
    const stored = await system.jsm.streams.getMessage(Streams.events, {
      last_by_subj: Subjects.decided(actionId),
    });
    const event = JSON.parse(new TextDecoder().decode(stored?.data)) as { data: Approval };
    const viaHttp = (await (
      await fetch(`${httpUrl()}/api/v1/approvals/${actionId}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as Approval;
    expect(
      new Set([approval.receipt, event.data.receipt, (await billing.get(actionId)).receipt, viaHttp.receipt]),
    ).toEqual(new Set([approval.receipt]));
    const { payload } = await jwtVerify(
      approval.receipt as string,
      createLocalJWKSet(await jwks()),
      JOSE_OPTIONS,
    );
    expect(payload).toMatchObject({
      status: 'approved',
      requested_by: 'billing-job',
      decided_by: 'frank',
      request_hash: pending.request_hash,
      votes: [{ identity: 'frank', decision: 'approved', at: approval.votes[0]?.at }],
    });
  });

  it('is signed for rejected, cancelled and expired approvals too', async () => {
    const keys = createLocalJWKSet(await jwks());
    const rejected = fresh('rej');
    await billing.request(payment(rejected, 1500));
    await pendingOf(billing, rejected);
    await frank.decide({ action_id: rejected, approved: false, reason: 'no' });
    const cancelled = fresh('can');
    await billing.request(payment(cancelled, 1500));
    await pendingOf(billing, cancelled);
    await billing.cancel({ action_id: cancelled, reason: 'changed my mind' });
    const expired = fresh('exp');
    await billing.request({ ...payment(expired, 1500), timeout_seconds: 1 });
    const status = async (id: string) => (await billing.get(id)).status;
    await waitUntil(async () => (await status(expired)) === 'expired', { timeout: 15_000 });
    for (const [id, want, by] of [
      [rejected, 'rejected', 'frank'],
      [cancelled, 'cancelled', 'billing-job'],
      [expired, 'expired', 'countersign'],
    ] as const) {
      const approval = await billing.get(id);
      const { payload } = await jwtVerify(approval.receipt as string, keys, JOSE_OPTIONS);
      expect(payload, id).toMatchObject({ action_id: id, status: want, decided_by: by });
    }
  });
});

describe('a tampered or forged receipt', () => {
  it('with one field changed (payload re-encoded, signature kept) does not verify', async () => {
    const approval = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    const [header, body, signature] = (approval.receipt as string).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as ReceiptClaims;
    const served = await jwks();
    for (const edit of [
      { request_hash: 'f'.repeat(64) },
      { status: 'rejected' },
      { requested_by: 'billing-job' },
      { votes: [{ identity: 'frank', decision: 'approved', at: claims.decided_at }] },
    ]) {
      const edited = `${header}.${b64({ ...claims, ...edit })}.${signature}`;
      await expect(compactVerify(edited, createLocalJWKSet(served)), JSON.stringify(edit)).rejects.toThrow(
        /signature verification failed/,
      );
      expect(() => verifyReceipt(edited, served)).toThrow(ReceiptInvalidError);
    }
  });

  it('alg none and HS256 keyed with the public key are refused by jose and by the SDK', async () => {
    const approval = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    const served = await jwks();
    const body = (approval.receipt as string).split('.')[1] as string;
    const none = `${b64({ alg: 'none', kid: 'first', typ: RECEIPT_TYP })}.${body}.`;
    const hsInput = `${b64({ alg: 'HS256', kid: 'first', typ: RECEIPT_TYP })}.${body}`;
    const publicKey = served.keys[0]?.x as string;
    const hs = `${hsInput}.${createHmac('sha256', publicKey).update(hsInput).digest('base64url')}`;
    for (const token of [none, hs]) {
      await expect(jwtVerify(token, createLocalJWKSet(served), JOSE_OPTIONS)).rejects.toThrow();
      expect(() => verifyReceipt(token, served)).toThrow(ReceiptInvalidError);
    }
  });

  it('signed by another key, on a forged decided event, never runs the gated function', async () => {
    const attacker = generateKeyPairSync('ed25519').privateKey;
    for (const kid of ['first', 'attacker-kid']) {
      const actionId = fresh('pay');
      let ran = false;
      const pay = requireApproval(
        billing,
        async () => {
          ran = true;
          return 'paid';
        },
        { request: () => payment(actionId, 50_000), wait: { timeout: 20_000 } },
      );
      const paying = pay();
      const pending = await pendingOf(billing, actionId);
      // Everything the waiter checks matches, except who signed.
      const claims: ReceiptClaims = {
        iss: 'countersign',
        sub: actionId,
        iat: Math.floor(Date.now() / 1000),
        action_id: actionId,
        request_hash: pending.request_hash as string,
        status: 'approved',
        requested_by: 'billing-job',
        decided_by: 'frank',
        decided_at: new Date().toISOString(),
        votes: [{ identity: 'frank', decision: 'approved', at: new Date().toISOString() }],
        policy_revision: pending.policy.revision,
      };
      const input = `${b64({ alg: 'EdDSA', kid, typ: RECEIPT_TYP })}.${b64(claims)}`;
      const receipt = `${input}.${sign(null, Buffer.from(input), attacker).toString('base64url')}`;
      publishDecided({
        ...pending,
        status: 'approved',
        decided_by: 'frank',
        decided_at: claims.decided_at,
        receipt,
      });
      const err = await rejection(paying);
      expect(err, kid).toBeInstanceOf(ReceiptInvalidError);
      expect((err as ReceiptInvalidError).code).toBe(kid === 'first' ? 'bad_signature' : 'unknown_kid');
      expect(ran).toBe(false);
      // The real approval is untouched: still pending.
      expect((await billing.get(actionId)).status).toBe('pending');
    }
  });

  it('from another approval (a real receipt replayed) does not satisfy a waiter either', async () => {
    const other = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    const actionId = fresh('pay');
    let ran = false;
    const pay = requireApproval(
      billing,
      async () => {
        ran = true;
      },
      { request: () => payment(actionId, 50_000), wait: { timeout: 20_000 } },
    );
    const paying = pay();
    const pending = await pendingOf(billing, actionId);
    publishDecided({ ...pending, status: 'approved', decided_by: 'policy', receipt: other.receipt ?? null });
    const err = await rejection(paying);
    expect((err as ReceiptInvalidError).code).toBe('mismatch');
    expect(ran).toBe(false);
  });
});

describe('the execution report', () => {
  it('records the SHA-256 of the receipt the gated function ran on', async () => {
    const actionId = fresh('noop');
    const run = requireApproval(dave, async () => 'done', {
      request: () => ({ action_id: actionId, action_type: 'noop', description: 'x' }),
    });
    expect(await run()).toBe('done');
    const approval = await dave.get(actionId);
    await waitUntil(async () => (await dave.history(actionId)).some((e) => e.event === 'reported'));
    const reported = (await dave.history(actionId)).find((e) => e.event === 'reported');
    expect(reported?.data).toMatchObject({
      outcome: 'executed',
      receipt_sha256: receiptSha256(approval.receipt as string),
    });
  });
});

describe('key rotation', () => {
  it('signs with the new key after a restart; receipts of the old key keep verifying', async () => {
    const old = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    // A client that cached the old key set before the rotation.
    const cached = new CountersignClient(billingNc, { identity: 'billing-job', timeout: 10_000 });
    await cached.verifyReceipt(old);

    writeFileSync(keyFile, rotatedKeySetText(readFileSync(keyFile, 'utf8'), keyFile, 'second'));
    await approvalProcess.stop();
    approvalProcess = await spawnApproval(system, approvalEnv);

    const served = await jwks();
    expect(served.keys.map((k) => k.kid)).toEqual(['second', 'first']);
    const renewed = await dave.requestAndWait({
      action_id: fresh('noop'),
      action_type: 'noop',
      description: 'x',
    });
    expect(decodeProtectedHeader(renewed.receipt as string).kid).toBe('second');
    for (const approval of [old, renewed]) {
      const { payload } = await jwtVerify(
        approval.receipt as string,
        createLocalJWKSet(served),
        JOSE_OPTIONS,
      );
      expect(payload.action_id).toBe(approval.action_id);
    }
    // The cached client meets an unknown kid, reads the key set again once, and verifies.
    await expect(cached.verifyReceipt(renewed)).resolves.toMatchObject({ action_id: renewed.action_id });
    await expect(cached.verifyReceipt(old)).resolves.toMatchObject({ action_id: old.action_id });
  });
});
