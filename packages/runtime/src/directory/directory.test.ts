import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { waitUntil } from '@countersign/test-fixtures';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { Directory, DirectoryError } from './directory.js';
import { type DirectoryHolder, openDirectory } from './holder.js';

const SAMPLE = `
people:
  Frank:
    email: Frank@Example.test
    roles: [finance]
    oidc: { subject: "sub-frank" }
    channels: [folder]
  alice: { email: alice@example.test, roles: [finance, ops], nats_user: alice-nats }
  dave: {}
services:
  billing-job: { may_request: [payment] }
  notifier: { relays_decisions: true }
`;

function problems(text: string): string[] {
  try {
    Directory.parse(text);
  } catch (err) {
    if (err instanceof DirectoryError) return err.problems;
    throw err;
  }
  throw new Error('the directory loaded');
}

describe('Directory', () => {
  const directory = Directory.parse(SAMPLE);

  it('lets a gateway act for the requesting systems it lists, and for nobody else', () => {
    const gateway = Directory.parse(`
people:
  dave: {}
services:
  Agent-A: { may_request: ["*"] }
  agent-b: { may_request: ["*"] }
  mcp-gateway: { acts_for: [agent-a] }
`);
    expect(gateway.actsFor('mcp-gateway', 'agent-a')).toBe(true);
    expect(gateway.actsFor('mcp-gateway', 'agent-b')).toBe(false);
    expect(gateway.actsFor('agent-a', 'agent-a')).toBe(false);
    expect(gateway.actsFor('dave', 'agent-a')).toBe(false);
  });

  it('refuses a gateway acting for a person, an unknown name, itself or another gateway', () => {
    const found = problems(`
people:
  dave: {}
services:
  agent-a: {}
  gw-1: { acts_for: [dave, ghost, gw-1] }
  gw-2: { acts_for: [gw-1, agent-a] }
`);
    expect(found).toEqual([
      'services.gw-1.acts_for: dave must be a requesting system that acts for nobody',
      'services.gw-1.acts_for: ghost is not in the directory',
      'services.gw-1.acts_for: gw-1 must be a requesting system that acts for nobody',
      'services.gw-2.acts_for: gw-1 must be a requesting system that acts for nobody',
    ]);
  });

  it('keys entries by canonical identity and maps NATS users to them', () => {
    expect(directory.get('frank')).toMatchObject({ kind: 'person', id: 'frank', roles: ['finance'] });
    expect(directory.get('Frank')).toBeUndefined();
    expect(directory.identityOfNatsUser('frank')?.id).toBe('frank');
    expect(directory.identityOfNatsUser('alice-nats')?.id).toBe('alice');
    expect(directory.identityOfNatsUser('alice')).toBeUndefined();
    expect(directory.identityOfNatsUser('billing-job')?.kind).toBe('service');
  });

  it('maps a Slack member id to one person, and refuses one id for two people', () => {
    const slack = Directory.parse('people:\n  frank: { slack_user: U0FRANK }\n  dave: {}\n');
    expect(slack.identityOfSlackUser('U0FRANK')?.id).toBe('frank');
    expect(slack.identityOfSlackUser('U0DAVE')).toBeUndefined();
    expect(problems('people:\n  a: { slack_user: U0SAME }\n  b: { slack_user: U0SAME }\n')).toEqual([
      "people.b: Slack member U0SAME is also a's",
    ]);
  });

  it('maps an OpenID sign-in by subject, else only by a verified email', () => {
    expect(directory.identityOfOidc({ sub: 'sub-frank' })?.id).toBe('frank');
    expect(
      directory.identityOfOidc({ sub: 'x', email: 'ALICE@example.test', email_verified: true })?.id,
    ).toBe('alice');
    expect(
      directory.identityOfOidc({ sub: 'x', email: 'alice@example.test', email_verified: false }),
    ).toBeUndefined();
    expect(directory.identityOfOidc({ sub: 'x', email: 'alice@example.test' })).toBeUndefined();
    expect(
      directory.identityOfOidc({ sub: 'x', email: 'mallory@example.test', email_verified: true }),
    ).toBeUndefined();
  });

  it('lets people request anything, systems only what they list', () => {
    expect(directory.mayRequest('dave', 'deploy')).toBe(true);
    expect(directory.mayRequest('billing-job', 'payment')).toBe(true);
    expect(directory.mayRequest('billing-job', 'deploy')).toBe(false);
    expect(directory.mayRequest('notifier', 'payment')).toBe(false);
    expect(directory.mayRequest('mallory', 'payment')).toBe(false);
  });

  it('gives roles to the policy and members of roles to the notifier', () => {
    expect(directory.roleMap()).toEqual({
      alice: ['finance', 'ops'],
      'billing-job': [],
      dave: [],
      frank: ['finance'],
      notifier: [],
    });
    expect(directory.membersOf(['finance'])).toEqual(['alice', 'frank']);
    expect(directory.membersOf(['ops', 'security'])).toEqual(['alice']);
  });

  it('has a revision that changes with the file', () => {
    expect(directory.revision).toMatch(/^[0-9a-f]{12}$/);
    expect(Directory.parse(SAMPLE).revision).toBe(directory.revision);
    expect(Directory.parse(`${SAMPLE}\n`).revision).not.toBe(directory.revision);
  });

  it('refuses two spellings of one identity, invisible characters, confusables and system actors', () => {
    expect(problems('people:\n  Frank: {}\n  " frank": {}\n')).toEqual([
      "people.frank: the identity is also frank's",
      'people.frank: NATS user "frank" is also frank\'s',
    ]);
    expect(problems('people:\n  "fr\\u200bank": {}\n')[0]).toMatch(/zero-width/);
    expect(problems('people:\n  "\\u0430lice": {}\n')[0]).toMatch(/confusable scripts/);
    expect(problems('services:\n  countersign: {}\n')[0]).toMatch(/reserved/);
  });

  it('refuses shared NATS users and emails, unknown fields and bad values, naming the entry', () => {
    expect(problems('people:\n  a: { nats_user: x }\n  b: { nats_user: x }\n')).toEqual([
      'people.b: NATS user "x" is also a\'s',
    ]);
    expect(problems('people:\n  a: { email: x@example.test }\n  b: { email: X@example.test }\n')).toEqual([
      "people.b: email X@example.test is also a's",
    ]);
    expect(problems('people:\n  a: { role: [ops] }\n')[0]).toMatch(/people\.a\.role/);
    expect(problems('people:\n  a: { slack_user: "nope" }\n')[0]).toMatch(/people\.a\.slack_user/);
    expect(problems('people: [\n')[0]).toMatch(/not valid YAML/);
  });
});

describe('openDirectory', () => {
  const logger = createLogger({ service: 'test', level: 'silent' });
  let holder: DirectoryHolder | undefined;
  afterEach(async () => {
    await holder?.stop();
  });

  it('reloads a changed file without a restart, and keeps the directory in force over a broken edit', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'directory-')), 'directory.yaml');
    writeFileSync(file, 'people:\n  frank: { roles: [finance] }\n');
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    holder = await openDirectory({
      file,
      logger: createLogger({ service: 'test', level: 'info', destination }),
      intervalMs: 20,
    });
    const seen: string[] = [];
    holder.onChange((d) => seen.push(d.revision));
    expect(holder.current().rolesOf('frank')).toEqual(['finance']);

    writeFileSync(file, 'people:\n  frank: { roles: [finance, ops] }\n');
    await waitUntil(() => holder?.current().rolesOf('frank').includes('ops'));
    expect(seen).toEqual([holder.current().revision]);

    const good = holder.current().revision;
    writeFileSync(file, 'people:\n  frank: { roles: [finance] }\n  Frank: {}\n');
    const refused = await waitUntil(() => lines.find((line) => line.includes('directory reload refused')));
    expect(JSON.parse(refused)).toMatchObject({ level: 50, revision: good, directory: file });
    expect(holder.current().revision).toBe(good);
    expect(seen).toHaveLength(1);
  });

  it('refuses to start on a file that does not load, naming the variable and the problem', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'directory-')), 'directory.yaml');
    writeFileSync(file, 'people:\n  "bad name": {}\n');
    await expect(openDirectory({ file, logger })).rejects.toThrow(/DIRECTORY_FILE .*people\.bad name/);
  });
});
