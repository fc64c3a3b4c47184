/**
 * Every service reports a bad configuration the same way, through the runtime's scaffold: exit
 * code 1 and one JSON log line naming each offending variable and what is wrong with it, never
 * its value (values may be secrets), before it connects to anything.
 */
import { describe, expect, it } from 'vitest';
import { runScript } from './support.js';

const SECRETISH = 'a-password-put-in-the-wrong-variable';
/** Read only once the configuration is valid: any path does here. */
const DIRECTORY_FILE = 'directory.yaml';

const cases = [
  {
    service: 'policy',
    // No DIRECTORY_FILE: without a directory nobody could be identified.
    env: { SHUTDOWN_TIMEOUT: SECRETISH, POLICY_WATCH_INTERVAL: '10ms' },
    variables: ['DIRECTORY_FILE', 'POLICY_WATCH_INTERVAL', 'SHUTDOWN_TIMEOUT'],
  },
  {
    service: 'approval',
    env: { DIRECTORY_FILE, INTAKE_ACK_WAIT: SECRETISH, LOG_LEVEL: 'chatty' },
    variables: ['DATABASE_URL', 'INTAKE_ACK_WAIT', 'LOG_LEVEL'],
  },
  {
    service: 'approval',
    // No signing keys nor audit key either: security by default, a service that cannot sign
    // or key its audit chain does not start.
    env: { DIRECTORY_FILE, DATABASE_URL: `postgres://u:${SECRETISH}@db/x`, HTTP_PORT: '8080' },
    variables: ['AUDIT_KEY', 'REVIEW_LINK_SECRET', 'SIGNING_KEYS_FILE'],
  },
  {
    service: 'notifier',
    env: {
      DIRECTORY_FILE,
      NOTIFIER_CONFIG: 'channels.yaml',
      REVIEW_LINK_SECRET: 'too-short',
      WEBHOOK_TIMEOUT: SECRETISH,
    },
    variables: ['DATABASE_URL', 'REVIEW_LINK_SECRET', 'WEBHOOK_TIMEOUT'],
  },
  {
    service: 'notifier',
    env: {
      DIRECTORY_FILE,
      DATABASE_URL: `postgres://u:${SECRETISH}@db/x`,
      NOTIFIER_CONFIG: 'channels.yaml',
      NOTIFIER_LEASE: '5s',
    },
    variables: ['NOTIFIER_LEASE'],
  },
] as const;

describe('a bad configuration', () => {
  it.each(cases)('stops $service with exit 1 and one JSON line naming $variables', async (c) => {
    const { code, lines, stderr } = await runScript(`services/${c.service}/src/main.ts`, c.env);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string);
    expect(line).toMatchObject({ level: 60, service: c.service, msg: 'invalid configuration' });
    expect(line.issues.map((i: { variable: string }) => i.variable).sort()).toEqual(c.variables);
    expect(lines[0]).not.toContain(SECRETISH);
    expect(lines[0]).not.toContain('too-short');
  });
});
