/**
 * A policy written from scratch for another organisation (a port operator: its own Rego, data,
 * golden cases and directory, in packages/test-fixtures/policies/harbor) loads and serves in the
 * real policy service process without a code change.
 */
import { callEndpoint } from '@countersign/client';
import {
  HARBOR_DIRECTORY_FILE,
  HARBOR_POLICY_DIR,
  spawnService,
  useTestNats,
} from '@countersign/test-fixtures';
import { afterAll, describe, expect, it } from 'vitest';
import { pendingApproval } from './support.js';

const nats = await useTestNats();
await spawnService('policy', {
  env: {
    NATS_URL: nats.url,
    POLICY_DIR: HARBOR_POLICY_DIR,
    POLICY_BUCKET: '',
    DIRECTORY_FILE: HARBOR_DIRECTORY_FILE,
  },
});
const nc = await nats.connect();
afterAll(() => nc.drain());

const release = (declared_value: number) =>
  callEndpoint(nc, 'evaluate', {
    action_id: `c${declared_value}`,
    action_type: 'container.release',
    description: 'release container MSCU 123456',
    requested_by: 'gate-system',
    context: { declared_value } as Record<string, unknown>,
  });

describe("another organisation's policy", () => {
  it('decides with its own rules and data', async () => {
    expect(await release(1000)).toMatchObject({
      outcome: 'auto_approve',
      reasons: [{ code: 'harbor_routine' }],
    });
    const held = await release(300_000);
    expect(held).toMatchObject({
      outcome: 'needs_approval',
      approver_roles: ['customs'],
      reasons: [{ code: 'customs_value' }],
    });
    const reroute = await callEndpoint(nc, 'evaluate', {
      action_id: 'r1',
      action_type: 'vessel.reroute',
      description: 'reroute MV Aurora to berth 7',
      requested_by: 'gate-system',
    });
    expect(reroute).toMatchObject({ required_approvals: 2, approver_roles: ['harbourmaster'] });
    const info = await callEndpoint(nc, 'policyInfo', {});
    expect(info.revision).toBe(held.revision);
  });

  it('authorizes with its own roles from its own directory', async () => {
    const held = await release(300_000);
    const approval = pendingApproval(held, { requested_by: 'gate-system', action_type: 'container.release' });
    const ask = (actor: string) => callEndpoint(nc, 'authorize', { action: 'decide', approval, actor });
    expect(await ask('ines')).toMatchObject({ allowed: true, reasons: [] });
    expect(await ask('crane-op')).toMatchObject({ allowed: false, reasons: [{ code: 'missing_role' }] });
    // frank is a finance approver in this repository's sample directory; here he is nobody.
    expect(await ask('frank')).toMatchObject({
      allowed: false,
      reasons: expect.arrayContaining([expect.objectContaining({ code: 'unknown_identity' })]),
    });
  });
});
