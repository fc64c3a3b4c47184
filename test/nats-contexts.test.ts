/**
 * The NATS CLI contexts the run command writes (scripts/dev/nats-contexts.ts), used as the
 * README walkthrough uses them: `nats --context frank …` acts as frank, and only as frank.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NatsAuth, startNatsServer, tool } from '@countersign/devinfra';
import { directoryOf, onFileEnd, TEST_DIRECTORY_FILE } from '@countersign/test-fixtures';
import { describe, expect, it } from 'vitest';
import { natsContextDir, writeNatsContexts } from '../scripts/dev/nats-contexts.js';

const run = promisify(execFile);
const auth = NatsAuth.of(await directoryOf(TEST_DIRECTORY_FILE));
const server = await startNatsServer({ extraConfig: auth.config() });
onFileEnd(server.stop);
const config = mkdtempSync(join(tmpdir(), 'countersign-contexts-'));
const dir = natsContextDir({ XDG_CONFIG_HOME: config });
// Someone's own context of the same name as an identity: never overwritten.
const theirs = join(dir, 'erin.json');
const written = (() => {
  writeNatsContexts(auth, server.url, dir);
  writeFileSync(theirs, JSON.stringify({ description: 'my own', url: 'nats://elsewhere:4222' }));
  return writeNatsContexts(auth, server.url, dir);
})();

/** Runs the NATS CLI with the contexts in `config`; resolves with its output, whatever its exit. */
const nats = (args: string[]) =>
  run(tool('nats'), args, { env: { ...process.env, XDG_CONFIG_HOME: config }, timeout: 15_000 }).then(
    ({ stdout, stderr }) => `${stdout}${stderr}`,
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );

describe('the run command’s NATS CLI contexts', () => {
  it('holds one per identity and countersign-ops, readable by their owner only', () => {
    expect(written.dir).toBe(join(config, 'nats', 'context'));
    expect(written.written).toEqual(
      expect.arrayContaining(['frank', 'bob', 'billing-job', 'countersign-ops']),
    );
    // The notifier's entry is the notifier service's own user, not a CLI identity.
    expect(written.written).not.toContain('notifier');
    expect(written.skipped).toEqual(['erin']);
    expect(JSON.parse(readFileSync(theirs, 'utf8')).description).toBe('my own');
    const frank = JSON.parse(readFileSync(join(dir, 'frank.json'), 'utf8'));
    expect(frank).toMatchObject({
      url: server.url,
      user: 'frank',
      password: auth.passwords.frank,
      inbox_prefix: '_INBOX_frank',
    });
    expect(statSync(join(dir, 'frank.json')).mode & 0o777).toBe(0o600);
  });

  it('lets frank publish as frank, and the server refuses bob the same subject', async () => {
    const decide = [
      'req',
      'approval.decide.frank',
      '{"action_id":"ctx-1","approved":true}',
      '--timeout',
      '2s',
    ];
    // No approval service here: frank's request gets through to "no responders".
    expect(await nats(['--context', 'frank', ...decide])).toMatch(/no responders/i);
    expect(await nats(['--context', 'bob', ...decide])).toMatch(
      /Permissions Violation for Publish to "approval\.decide\.frank"/,
    );
    expect(await nats(['--context', 'countersign-ops', 'server', 'check', 'connection'])).toMatch(/OK/);
  });
});
