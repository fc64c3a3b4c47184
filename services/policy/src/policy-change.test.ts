import { describe, expect, it } from 'vitest';
import { changedFields, summarize } from './compare.js';
import { dataDiff, proposalObject, replaySummary } from './policy-change.js';
import { formatReplay, type ReplayReport } from './replay.js';

describe('dataDiff', () => {
  it('lists changed, added and removed leaves by path, leaving the golden cases out', () => {
    const live = { countersign: { thresholds: { a: 1, b: 2 }, golden_cases: [1], list: ['x'] } };
    const candidate = { countersign: { thresholds: { a: 1, c: 3 }, golden_cases: [2], list: ['x', 'y'] } };
    expect(dataDiff(live, candidate)).toEqual({
      changed: 3,
      paths: [
        { path: 'countersign.list', live: '["x"]', candidate: '["x","y"]' },
        { path: 'countersign.thresholds.b', live: '2', candidate: null },
        { path: 'countersign.thresholds.c', live: null, candidate: '3' },
      ],
    });
  });

  it('cuts long values, so the approval context stays small', () => {
    const diff = dataDiff({ list: [] }, { list: Array.from({ length: 500 }, (_, i) => `item-${i}`) });
    expect(diff.paths[0]?.candidate).toHaveLength(201);
    expect(diff.paths[0]?.candidate?.endsWith('…')).toBe(true);
  });

  it('keeps at most 20 paths but counts them all', () => {
    const live = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    const diff = dataDiff(live, {});
    expect(diff.changed).toBe(30);
    expect(diff.paths).toHaveLength(20);
  });
});

const summary = {
  outcome: 'needs_approval',
  required_approvals: 1,
  approver_roles: ['finance'],
  risk: 'high',
} as const;
const report: ReplayReport = {
  live_revision: 'sha256:live',
  candidate_revision: 'sha256:cand',
  since: null,
  action_type: null,
  replayed: 3,
  changes: [
    {
      action_id: 'p1',
      action_type: 'payment',
      requested_by: 'billing-job',
      at: '2026-01-01T00:00:00.000Z',
      changed: ['outcome', 'approver_roles'],
      live: { ...summary, approver_roles: ['finance'] },
      candidate: { ...summary, outcome: 'auto_approve', approver_roles: [] },
    },
  ],
  errors: [],
};

describe('replay reports', () => {
  it('compares outcome, approvals, roles (in any order) and risk only', () => {
    const a = summarize({
      ...summary,
      approver_roles: ['ops', 'finance'],
      reasons: [],
      timeout_seconds: 1,
      notify: [],
    });
    const b = summarize({
      ...summary,
      approver_roles: ['finance', 'ops'],
      reasons: [],
      timeout_seconds: 9,
      notify: ['x'],
    });
    expect(changedFields(a, b)).toEqual([]);
    expect(changedFields(a, { ...b, risk: 'low', required_approvals: 2 })).toEqual([
      'required_approvals',
      'risk',
    ]);
  });

  it('formats a table and a summary line', () => {
    const text = formatReplay(report);
    expect(text).toMatch(/^action_id\s+action_type/);
    expect(text).toContain('needs_approval x1 [finance] high');
    expect(text).toContain('replayed 3 requests: 1 would change (live sha256:live -> candidate sha256:cand)');
  });

  it('summarises for an approval context, bounded', () => {
    expect(replaySummary(report)).toEqual({
      replayed: 3,
      since: null,
      changes: 1,
      errors: 0,
      sample: [
        {
          action_id: 'p1',
          changed: ['outcome', 'approver_roles'],
          live: 'needs_approval',
          candidate: 'auto_approve',
        },
      ],
    });
  });

  it('names a proposal object by the approval it waits for', () => {
    expect(proposalObject('policy-0123456789abcdef-a1b2c3')).toBe(
      'proposal-policy-0123456789abcdef-a1b2c3.tar.gz',
    );
  });
});
