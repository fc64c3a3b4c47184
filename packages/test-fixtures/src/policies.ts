import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../policies');

/**
 * Another organisation's policy, written from scratch (a port operator: container releases,
 * vessel reroutes): its own Rego, data (`harbor/data.json`) and golden cases. The policy
 * service must load and serve it without a code change.
 */
export const HARBOR_POLICY_DIR = join(root, 'harbor');
/** Its directory: the people its rules name roles for (customs, harbourmaster). */
export const HARBOR_DIRECTORY_FILE = join(root, 'harbor/directory.yaml');
