/**
 * The export over the API (`GET /api/v1/approvals/export`, a bearer token): every page of a
 * filtered list, each approval with its history, as JSON Lines or CSV; refusals are structured.
 */
import { describe, expect, it } from 'vitest';
import { startHttpHarness } from './http-support.js';
import { call, request } from './support.js';

const h = await startHttpHarness('http_export');

describe('GET /api/v1/approvals/export', () => {
  it('streams every page of the filtered list with its history', async () => {
    // More than one page (100) of one action type; small payments are approved by the policy.
    const ids: string[] = [];
    for (let chunk = 0; chunk < 3; chunk += 1) {
      const made = await Promise.all(
        Array.from({ length: 35 }, () => call(h.nc, 'submit', request('export', { action_type: 'invoice' }))),
      );
      ids.push(...made.map((a) => a.action_id));
    }
    const jsonl = await h.api('GET', '/api/v1/approvals/export?action_type=invoice&format=jsonl', {
      as: 'carol',
    });
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get('content-type')).toContain('application/x-ndjson');
    const records = jsonl.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => r.action_id).sort()).toEqual([...ids].sort());
    expect(records.every((r) => Array.isArray(r.history) && r.history.length > 0)).toBe(true);

    const csv = await h.api('GET', '/api/v1/approvals/export?action_type=invoice', { as: 'carol' });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="approvals-.*\.csv"$/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]?.startsWith('action_id,action_type,description,')).toBe(true);
    expect(new Set(lines.slice(1).map((l) => l.split(',')[0]))).toEqual(new Set(ids));
  });

  it('refuses an anonymous caller, an unknown format and a bad filter, with structured errors', async () => {
    expect((await h.api('GET', '/api/v1/approvals/export')).status).toBe(401);
    const format = await h.api('GET', '/api/v1/approvals/export?format=xlsx', { as: 'carol' });
    expect(format.status).toBe(400);
    expect(format.json.error).toMatchObject({
      code: 'invalid_request',
      details: { fields: [{ path: 'format' }] },
    });
    const status = await h.api('GET', '/api/v1/approvals/export?status=maybe', { as: 'carol' });
    expect(status.status).toBe(400);
    expect(status.json.error.code).toBe('invalid_request');
  });
});
