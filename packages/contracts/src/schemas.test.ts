import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_CONTEXT_DEPTH, MAX_JSON_DEPTH } from './depth.js';
import { CountersignError } from './errors.js';
import { decodeJson, decodeRequest, fieldIssues } from './parse.js';
import {
  Approval,
  ApprovalEvent,
  ApprovalRequest,
  AuthorizeResponse,
  DecideRequest,
  ErrorBody,
  ListRequest,
  MAX_PAYLOAD_BYTES,
  PolicyDecision,
  WebhookBody,
} from './schemas.js';
import { Endpoints, Subjects } from './subjects.js';

const request = {
  action_id: 'deploy-vercel-1732200000',
  action_type: 'deploy',
  description: 'Deploy web to production',
  context: { environment: 'production', resource: 'web', amount: 0, extra: { nested: true } },
  requested_by: 'ci-bot',
  run_id: 'run-42',
  timeout_seconds: 3600,
};

const decision = {
  outcome: 'needs_approval',
  reasons: [{ code: 'production_environment', message: 'environment is production' }],
  risk: 'high',
  required_approvals: 1,
  approver_roles: ['ops'],
  timeout_seconds: 3600,
  notify: [],
  revision: 'sha256:abc',
  decision_id: '01J9ZQ',
};

const approval = {
  ...request,
  status: 'pending',
  created_at: '2026-11-21T10:00:00.000Z',
  expires_at: '2026-11-21T11:00:00.000Z',
  decided_at: null,
  decided_by: null,
  decision_reason: null,
  policy: decision,
  votes: [{ voter: 'bob', approved: true, reason: null, at: '2026-11-21T10:01:00Z' }],
  required_approvals: 1,
};

function thrown(fn: () => unknown): CountersignError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CountersignError);
    return e as CountersignError;
  }
  throw new Error('expected an error, none was thrown');
}

function issuesOf(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown) {
  const result = schema.safeParse(value);
  expect(result.success).toBe(false);
  return fieldIssues(result.error as never).map((i) => i.path);
}

describe('ApprovalRequest', () => {
  it('accepts the documented example and applies the context default', () => {
    expect(ApprovalRequest.parse(request)).toEqual(request);
    const minimal = ApprovalRequest.parse({
      action_id: 'p1',
      action_type: 'payment',
      description: 'x',
      requested_by: 'dave',
    });
    expect(minimal.context).toEqual({});
  });

  it('names each missing required field', () => {
    expect(issuesOf(ApprovalRequest, {}).sort()).toEqual(
      ['action_id', 'action_type', 'description', 'requested_by'].sort(),
    );
  });

  it('rejects wrong types with the field path', () => {
    expect(issuesOf(ApprovalRequest, { ...request, context: { amount: '1500' } })).toEqual([
      'context.amount',
    ]);
    expect(issuesOf(ApprovalRequest, { ...request, context: { bulk: 'yes' } })).toEqual(['context.bulk']);
    expect(issuesOf(ApprovalRequest, { ...request, context: { item_count: 1.5 } })).toEqual([
      'context.item_count',
    ]);
    expect(issuesOf(ApprovalRequest, { ...request, timeout_seconds: 0 })).toEqual(['timeout_seconds']);
    expect(issuesOf(ApprovalRequest, { ...request, timeout_seconds: 604_801 })).toEqual(['timeout_seconds']);
    expect(issuesOf(ApprovalRequest, { ...request, context: [] })).toEqual(['context']);
    expect(issuesOf(ApprovalRequest, { ...request, context: { amount: -1 } })).toEqual(['context.amount']);
  });

  it.each([['with.dot'], ['wild*card'], ['gt>'], ['has space'], ['-leading-dash'], [''], ['x'.repeat(129)]])(
    'rejects the action_id %j',
    (actionId) => {
      expect(issuesOf(ApprovalRequest, { ...request, action_id: actionId })).toEqual(['action_id']);
    },
  );

  it('accepts a 128-character action_id', () => {
    expect(ApprovalRequest.safeParse({ ...request, action_id: `a${'b'.repeat(127)}` }).success).toBe(true);
  });

  it('rejects unknown top-level fields by name, keeps unknown context keys', () => {
    expect(issuesOf(ApprovalRequest, { ...request, roles: ['admin'] })).toEqual(['roles']);
    expect(ApprovalRequest.parse({ ...request, context: { anything: [1, 2] } }).context).toEqual({
      anything: [1, 2],
    });
  });

  it('enforces length limits and refuses control characters in identities', () => {
    expect(issuesOf(ApprovalRequest, { ...request, description: 'd'.repeat(2001) })).toEqual(['description']);
    expect(issuesOf(ApprovalRequest, { ...request, action_type: 't'.repeat(65) })).toEqual(['action_type']);
    expect(issuesOf(ApprovalRequest, { ...request, requested_by: 'eve\u0000' })).toEqual(['requested_by']);
  });
});

describe('decodeRequest', () => {
  it('refuses an oversized payload with payload_too_large', () => {
    const big = JSON.stringify({ ...request, description: 'x'.repeat(MAX_PAYLOAD_BYTES) });
    const err = thrown(() => decodeRequest(ApprovalRequest, big));
    expect(err.code).toBe('payload_too_large');
    expect(err.status).toBe(413);
  });

  it('refuses JSON nested deeper than MAX_JSON_DEPTH before anything walks it recursively', () => {
    const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    expect(jsonDepth(JSON.parse(nested(MAX_JSON_DEPTH)))).toBe(MAX_JSON_DEPTH);
    expect(jsonDepth({ a: [1, { b: {} }], c: 'x' })).toBe(4);
    expect(jsonDepth('plain')).toBe(0);
    expect(decodeJson(nested(MAX_JSON_DEPTH))).toBeInstanceOf(Array);
    // 20,000 levels fit in 64 KiB; a recursive walk of them overflows the stack.
    const deep = thrown(() => decodeJson(nested(20_000)));
    expect(deep.code).toBe('invalid_request');
    expect(deep.message).toMatch(/nested deeper than/);
  });

  it('refuses a context nested deeper than MAX_CONTEXT_DEPTH, naming it', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_CONTEXT_DEPTH; i++) deep = { d: deep };
    expect(ApprovalRequest.safeParse({ ...request, context: deep }).success).toBe(true);
    expect(issuesOf(ApprovalRequest, { ...request, context: { d: deep } })).toEqual(['context']);
  });

  it('refuses malformed JSON with invalid_request', () => {
    expect(thrown(() => decodeJson('{"action_id":')).message).toMatch(/not valid JSON/);
    expect(thrown(() => decodeJson(new TextEncoder().encode('not json'))).code).toBe('invalid_request');
  });

  it('reports every bad field in details.fields', () => {
    const err = thrown(() =>
      decodeRequest(ApprovalRequest, JSON.stringify({ action_id: 'a.b', action_type: 3 })),
    );
    expect(err.code).toBe('invalid_request');
    const paths = ((err.details?.fields ?? []) as { path: string }[]).map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(['action_id', 'action_type', 'description', 'requested_by']),
    );
    expect(err.toBody().error.code).toBe('invalid_request');
  });

  it('decodes an empty body to {} for argument-less commands', () => {
    expect(decodeRequest(Endpoints.stats.request, '')).toEqual({});
  });
});

describe('records and replies', () => {
  it('accepts an Approval, PolicyDecision and an event envelope', () => {
    expect(Approval.parse(approval).votes).toHaveLength(1);
    expect(PolicyDecision.parse(decision).risk).toBe('high');
    const event = {
      id: `${request.action_id}.pending`,
      type: 'approval.pending',
      occurred_at: approval.created_at,
      data: approval,
    };
    expect(ApprovalEvent.parse(event)).toMatchObject({ version: 1, data: { action_id: request.action_id } });
    expect(
      WebhookBody.safeParse({ type: 'approval.decided', timestamp: approval.created_at, data: approval })
        .success,
    ).toBe(true);
  });

  it('rejects an Approval with an unknown status or a non-UTC-like timestamp', () => {
    expect(issuesOf(Approval, { ...approval, status: 'maybe' })).toEqual(['status']);
    expect(issuesOf(Approval, { ...approval, created_at: 'yesterday' })).toEqual(['created_at']);
  });

  it('rejects a decision with zero required approvals or an unknown outcome', () => {
    expect(issuesOf(PolicyDecision, { ...decision, required_approvals: 0 })).toEqual(['required_approvals']);
    expect(issuesOf(PolicyDecision, { ...decision, outcome: 'maybe' })).toEqual(['outcome']);
  });

  it('checks decide and list requests', () => {
    expect(DecideRequest.parse({ action_id: 'a', approved: true, decided_by: 'bob' }).approved).toBe(true);
    expect(issuesOf(DecideRequest, { action_id: 'a', approved: 'yes', decided_by: 'bob' })).toEqual([
      'approved',
    ]);
    expect(ListRequest.parse({}).limit).toBe(50);
    expect(issuesOf(ListRequest, { limit: 501 })).toEqual(['limit']);
    expect(issuesOf(ListRequest, { status: 'unknown' })).toEqual(['status']);
    // PostgreSQL cannot hold NUL, so no filter with one can match: a refusal, not a database error.
    expect(
      issuesOf(ListRequest, { run_id: 'a\u0000', action_type: '\u0000', requested_by: 'd\u0000' }),
    ).toEqual(['run_id', 'action_type', 'requested_by']);
    expect(ListRequest.parse({ run_id: "' or 1=1 --" }).run_id).toBe("' or 1=1 --");
  });

  it('checks the error body and authorize reply', () => {
    expect(ErrorBody.parse({ error: { code: 'forbidden', message: 'no' } }).error.code).toBe('forbidden');
    expect(issuesOf(ErrorBody, { error: { code: 'teapot', message: 'no' } })).toEqual(['error.code']);
    expect(
      AuthorizeResponse.parse({ allowed: false, reasons: [{ code: 'self_approval', message: 'x' }] }).allowed,
    ).toBe(false);
  });
});

describe('subjects', () => {
  it('builds per-approval event subjects', () => {
    expect(Subjects.pending('a1')).toBe('approval.pending.a1');
    expect(Subjects.decided('a1')).toBe('approval.decided.a1');
    expect(Endpoints.decide.subject).toBe('approval.decide');
    expect(Endpoints.policyInfo.subject).toBe('policy.info');
  });
});

describe('ListRequest', () => {
  it('filters by requester canonically, and keeps a name that is no identity as it is', () => {
    expect(ListRequest.parse({ requested_by: ' Dave ' }).requested_by).toBe('dave');
    expect(ListRequest.parse({ requested_by: "dave' --" }).requested_by).toBe("dave' --");
  });
});
