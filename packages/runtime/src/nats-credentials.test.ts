import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { natsAuthOptions } from './nats-credentials.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-creds-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
// A user nkey seed (the format nats-server and `nsc` write); not a credential of anything.
const SEED = 'SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4';

describe('natsAuthOptions', () => {
  it('refuses to go on without credentials while authentication is on, naming the variables', () => {
    const result = natsAuthOptions({ auth: 'on' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]?.variable).toBe('NATS_CREDS');
    expect(result.issues[0]?.message).toMatch(/NATS_USER and NATS_PASSWORD.*NATS_AUTH=off/);
  });

  it('connects without credentials only with NATS_AUTH=off', () => {
    expect(natsAuthOptions({ auth: 'off' })).toEqual({ ok: true, options: {} });
  });

  it('takes a user with its password, never one without the other', () => {
    const ok = natsAuthOptions({ auth: 'on', user: 'approval', password: 'secret-pass' });
    expect(ok.ok && typeof ok.options.authenticator).toBe('function');
    const noPassword = natsAuthOptions({ auth: 'on', user: 'approval' });
    expect(noPassword.ok ? [] : noPassword.issues.map((i) => i.variable)).toEqual(['NATS_PASSWORD']);
    const noUser = natsAuthOptions({ auth: 'off', password: 'secret-pass' });
    expect(noUser.ok ? [] : noUser.issues.map((i) => i.variable)).toEqual(['NATS_USER']);
  });

  it('reads a bare nkey seed file and a .creds file, and refuses anything else without quoting it', () => {
    const seed = natsAuthOptions({ auth: 'on', credsFile: file('user.nk', `${SEED}\n`) });
    expect(seed.ok).toBe(true);
    const creds = natsAuthOptions({
      auth: 'on',
      credsFile: file(
        'user.creds',
        `-----BEGIN NATS USER JWT-----\neyJhbGciOi.x.y\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${SEED}\n------END USER NKEY SEED------\n`,
      ),
    });
    expect(creds.ok).toBe(true);
    const wrong = natsAuthOptions({ auth: 'on', credsFile: file('wrong', 'hunter2-not-a-seed') });
    expect(wrong.ok).toBe(false);
    expect(JSON.stringify(wrong)).not.toContain('hunter2');
    const missing = natsAuthOptions({ auth: 'on', credsFile: join(dir, 'absent.creds') });
    expect(missing.ok ? '' : missing.issues[0]?.message).toBe('cannot be read (ENOENT)');
    const both = natsAuthOptions({ auth: 'on', credsFile: file('x.nk', SEED), user: 'a', password: 'b' });
    expect(both.ok).toBe(false);
  });
});
