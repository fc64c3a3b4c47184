/**
 * The approval service README's "Try it" lines, run verbatim with the real NATS CLI against the
 * real services, with NATS CLI contexts as the run command writes them (one per identity, with
 * authentication on): `nats micro ls` lists approval and policy, and each `nats req` answers
 * what the README says (a record, or the error code its comment names).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Approval, ErrorBody, isErrorCode } from '@countersign/contracts';
import { REPO_ROOT, tool } from '@countersign/devinfra';
import { describe, expect, it } from 'vitest';
import { startSystem } from './support.js';

const run = promisify(execFile);
const sys = await startSystem('cli');

interface Example {
  line: string;
  args: string[];
  /** The error code the README's comment promises, if any. */
  code?: string;
}

/** The `nats ...` lines of the README's "Try it" block, split into arguments. */
function readmeExamples(): Example[] {
  const readme = readFileSync(join(REPO_ROOT, 'services/approval/README.md'), 'utf8');
  const block = readme.split('## Try it')[1]?.match(/```sh\n([\s\S]*?)```/)?.[1] ?? '';
  return block
    .split('\n')
    .filter((line) => line.startsWith('nats '))
    .map((line) => {
      const match = line.match(/^nats ([^']*?)\s*(?:'([^']*)')?\s*(?:#\s*(\S+?)[:,]?(?:\s.*)?)?$/);
      if (!match) throw new Error(`cannot read README line: ${line}`);
      const [, command = '', body, comment] = match;
      const code = comment && isErrorCode(comment) ? comment : undefined;
      return {
        line,
        args: [...command.split(/\s+/), ...(body === undefined ? [] : [body])],
        ...(code ? { code } : {}),
      };
    });
}

/** NATS CLI contexts for the test's server, as the run command writes them; the config home. */
function writeContexts(names: string[]): string {
  const home = mkdtempSync(join(tmpdir(), 'countersign-cli-'));
  const dir = join(home, 'nats', 'context');
  mkdirSync(dir, { recursive: true });
  for (const name of names) {
    const login = sys.nats.login(name === 'countersign-ops' ? 'ops' : name);
    if (!login) throw new Error(`no NATS user for ${name}`);
    const context = {
      url: sys.nats.url,
      user: login.user,
      password: login.password,
      ...(login.inboxPrefix ? { inbox_prefix: login.inboxPrefix } : {}),
    };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(context), { mode: 0o600 });
  }
  return home;
}

describe('the README examples with the NATS CLI', () => {
  it('run as documented', async () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThanOrEqual(8);
    const contexts = examples.map((e) => e.args[e.args.indexOf('--context') + 1] as string);
    expect(contexts.every(Boolean), 'every line names its context').toBe(true);
    const home = writeContexts([...new Set(contexts)]);
    const outputs = new Map<string, string>();
    for (const example of examples) {
      const { stdout } = await run(tool('nats'), example.args, {
        timeout: 15_000,
        env: { ...process.env, XDG_CONFIG_HOME: home },
      });
      outputs.set(example.line, stdout);
      if (!example.args.includes('req')) continue;
      const body: unknown = JSON.parse(stdout.trim());
      const error = ErrorBody.safeParse(body);
      if (example.code) {
        expect(error.success, example.line).toBe(true);
        expect(error.data?.error.code, example.line).toBe(example.code);
      } else {
        expect(error.success, `${example.line}\n${stdout}`).toBe(false);
      }
    }

    const ls = outputs.get('nats --context countersign-ops micro ls') ?? '';
    expect(ls).toMatch(/\bapproval\b/);
    expect(ls).toMatch(/\bpolicy\b/);

    const decided = [...outputs].find(([line]) => line.includes('approval.decide.frank'))?.[1] ?? '';
    expect(Approval.parse(JSON.parse(decided))).toMatchObject({
      action_id: 'pay-42',
      status: 'approved',
      decided_by: 'frank',
      decision_reason: 'invoice checked',
    });
    const forged = [...outputs].find(([line]) => line.includes('"decided_by":"frank"'))?.[1] ?? '';
    expect(ErrorBody.parse(JSON.parse(forged)).error.details?.reasons).toEqual([
      expect.objectContaining({ code: 'actor_mismatch' }),
    ]);
    const late = [...outputs].find(([line]) => line.includes('approval.decide.alice'))?.[1] ?? '';
    expect(ErrorBody.parse(JSON.parse(late)).error.details).toMatchObject({
      status: 'approved',
      decided_by: 'frank',
    });
    const intake = [...outputs].find(([line]) => line.includes('approval.requested.dave'))?.[1] ?? '';
    expect(JSON.parse(intake)).toMatchObject({ stream: 'APPROVAL_REQUESTS' });
  });
});
