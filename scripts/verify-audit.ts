/**
 * `pnpm verify-audit [--all | <action_id>...]`: checks approvals, votes and audit chains against
 * the audit key and the signed heads published to AUDIT_HEADS (docs/operations.md "Verifying the
 * audit trail"). Exit 0 all agree, 1 a disagreement (each printed), 2 a usage or configuration error.
 */
import { runVerifyAudit } from '../services/approval/src/verify-audit.js';

process.exitCode = await runVerifyAudit(process.argv.slice(2));
