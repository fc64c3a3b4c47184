import { describe, expect, it } from 'vitest';
import { ChangeNotApprovedError } from '../approved-change.js';
import {
  canonicalJson,
  checkActivation,
  DirectoryChangeError,
  directoryDiff,
  directoryDigest,
  prepareDirectoryChange,
} from './change.js';
import { Directory } from './directory.js';

const LIVE = `
people:
  alice: { roles: [finance, ops] }
  bob: { roles: [ops], channels: [folder] }
  dave: {}
services:
  billing-job: { may_request: [payment] }
`;
// dave becomes finance, bob loses ops and his folder, eve joins as security, billing-job may
// refund too and a new system arrives.
const CANDIDATE = `
people:
  alice: { roles: [finance, ops] }
  bob: { roles: [], nats_user: bob-2 }
  dave: { roles: [finance] }
  eve: { roles: [security] }
services:
  billing-job: { may_request: [payment, refund] }
  cron: {}
`;

describe('directoryDiff', () => {
  it('names who joins and leaves, every role granted and revoked, channels and identity fields', () => {
    expect(directoryDiff(Directory.parse(LIVE), Directory.parse(CANDIDATE))).toEqual({
      people_added: ['eve'],
      people_removed: [],
      services_added: ['cron'],
      services_removed: [],
      roles_granted: [
        { identity: 'dave', role: 'finance' },
        { identity: 'eve', role: 'security' },
      ],
      roles_revoked: [{ identity: 'bob', role: 'ops' }],
      channels_changed: [{ identity: 'bob', added: [], removed: ['folder'] }],
      entries_changed: [
        { identity: 'bob', fields: ['nats_user'] },
        { identity: 'billing-job', fields: ['may_request'] },
      ],
      changes: 8,
      truncated: false,
    });
  });

  it('cuts long lists but never the grants', () => {
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, { roles: ['ops'] }]));
    const diff = directoryDiff(undefined, Directory.parse(JSON.stringify({ people: many })));
    expect(diff.people_added).toHaveLength(50);
    expect(diff.roles_granted).toHaveLength(60);
    expect(diff).toMatchObject({ changes: 120, truncated: true });
  });
});

describe('prepareDirectoryChange', () => {
  it('builds the context: full revisions, the diff and the candidate itself', () => {
    const change = prepareDirectoryChange(CANDIDATE, LIVE);
    expect(change.revision).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(change.context).toMatchObject({
      revision: directoryDigest(CANDIDATE),
      live_revision: directoryDigest(LIVE),
      candidate: CANDIDATE,
    });
  });

  it('refuses a file that does not load, a change of nothing and one too big', () => {
    expect(() => prepareDirectoryChange('people:\n  "bad name": {}\n', LIVE)).toThrow(/people\.bad name/);
    expect(() => prepareDirectoryChange(LIVE, LIVE)).toThrow(DirectoryChangeError);
    expect(() => prepareDirectoryChange(`# ${'x'.repeat(300_000)}\n${CANDIDATE}`, LIVE)).toThrow(/at most/);
  });
});

describe('checkActivation', () => {
  const change = prepareDirectoryChange(CANDIDATE, LIVE);
  // What the database gives back: the same JSON, keys in another order.
  const approved = {
    action_type: 'directory_change',
    status: 'approved',
    context: JSON.parse(canonicalJson(change.context)) as Record<string, unknown>,
  };
  it('lets an approved change of the directory in force go live', async () => {
    await expect(checkActivation('d-1', approved, LIVE)).resolves.toMatchObject({
      revision: change.revision,
    });
  });

  it('refuses another type, a pending or rejected approval, another base, and a diff that hides a grant', async () => {
    await expect(checkActivation('d-1', { ...approved, action_type: 'policy_change' }, LIVE)).rejects.toThrow(
      ChangeNotApprovedError,
    );
    await expect(
      checkActivation(
        'd-1',
        { ...approved, status: 'pending', required_approvals: 2, votes: [{ approved: true }] },
        LIVE,
      ),
    ).rejects.toThrow(/is pending \(1 of 2 approvals\)/);
    await expect(checkActivation('d-1', { ...approved, status: 'rejected' }, LIVE)).rejects.toThrow(
      /is rejected/,
    );
    await expect(checkActivation('d-1', approved, `${LIVE}\n`)).rejects.toThrow(/was filed against/);
    const hidden = {
      ...approved,
      context: { ...approved.context, diff: { ...change.diff, roles_granted: [] } },
    };
    await expect(checkActivation('d-1', hidden, LIVE)).rejects.toThrow(/another diff/);
    // A revision naming another text than the one it carries.
    const swapped = { ...approved, context: { ...approved.context, candidate: `${CANDIDATE}# x\n` } };
    await expect(checkActivation('d-1', swapped, LIVE)).rejects.toThrow(/approves revision/);
  });
});
