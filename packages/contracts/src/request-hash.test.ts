/**
 * The request-hash vectors shared with the Python SDK (test-vectors/request-hashes.json, also
 * read by sdks/python/tests/test_request_hash.py): an SDK that computed another hash for the same
 * request would take its own approval for a squatted one, or a squatted one for its own.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalJson, requestHash } from './request-hash.js';
import { ApprovalRequest } from './schemas.js';

const here = dirname(fileURLToPath(import.meta.url));
const { vectors } = JSON.parse(readFileSync(join(here, '../test-vectors/request-hashes.json'), 'utf8')) as {
  vectors: { name: string; input: unknown; canonical: string; request_hash: string }[];
};

describe('requestHash against the shared vectors', () => {
  for (const v of vectors) {
    it(v.name, () => {
      const parsed = ApprovalRequest.parse(v.input);
      expect(canonicalJson(parsed)).toBe(v.canonical);
      expect(requestHash(parsed)).toBe(v.request_hash);
    });
  }

  it('changes with any field of the request', () => {
    const base = ApprovalRequest.parse(vectors[0]?.input);
    expect(requestHash({ ...base, description: 'Pay invoice 43' })).not.toBe(requestHash(base));
    expect(requestHash({ ...base, requested_by: 'dave' })).not.toBe(requestHash(base));
    expect(requestHash({ ...base, context: { amount: 1 } })).not.toBe(requestHash(base));
  });
});
