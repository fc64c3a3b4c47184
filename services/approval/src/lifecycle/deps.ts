/** What every lifecycle function is handed: the database, the policy and a logger. */
import type { Logger } from '@countersign/runtime';
import type pg from 'pg';
import type { PolicyClient } from '../policy.js';

export interface LifecycleDeps {
  pool: pg.Pool;
  policy: PolicyClient;
  logger: Logger;
}
