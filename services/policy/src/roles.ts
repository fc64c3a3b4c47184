import type { Directory } from '@countersign/runtime';

/**
 * Who holds which role, as the policy sees it at `data.directory`: identity -> roles, with the
 * revision of the directory file it came from (logged with every decision, shown by
 * `policy.info`). The service builds it from the runtime's directory; golden cases use their own.
 */
export interface PolicyDirectory {
  revision: string;
  roles: Readonly<Record<string, readonly string[]>>;
}

/** Where the rules read the directory: top level, beside (not inside) the bundle's own data. */
export const DIRECTORY_DATA_KEY = 'directory';

/** Nobody: what a policy loaded without a directory (`pnpm policy build`) knows. Fails closed. */
export const EMPTY_DIRECTORY: PolicyDirectory = { revision: 'none', roles: {} };

/** The policy's view of the directory file: every person and requesting system with its roles. */
export function policyDirectory(directory: Directory): PolicyDirectory {
  return { revision: directory.revision, roles: directory.roleMap() };
}
