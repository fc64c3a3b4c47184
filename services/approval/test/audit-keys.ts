import { Secret } from '@countersign/runtime';
import { TEST_AUDIT_KEY } from '@countersign/test-fixtures';
import { AuditKeys } from '../src/audit-key.js';

/** The keys the tests' approval services chain with (TEST_AUDIT_KEY): to verify what they wrote. */
export const TEST_AUDIT_KEYS = AuditKeys.from(new Secret(TEST_AUDIT_KEY));
