/**
 * The AUDIT_KEY every approval service the tests start chains its audit events with (the
 * harness passes it), so that tests can verify the keyed chains they read back. A test value:
 * never a deployment's.
 */
export const TEST_AUDIT_KEY = 'test-audit-key-0123456789abcdefghijklmnop';
