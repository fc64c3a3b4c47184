/**
 * Re-checks the chain of approvals' audit histories from outside, the way anyone with read
 * access could: it needs nothing but `approval.get` and the chain rule, so it is written out here
 * rather than imported from the service. Each event's `prev_hash` is the hash of the event before
 * it (64 zeros for the first), and its `hash` covers prev_hash + the canonical JSON of {action_id,
 * seq, event, actor, reason, data, at} (object keys sorted at every level): an HMAC-SHA256 under
 * the service's audit key, which this public check does not hold, for every event written since
 * the chain was keyed; plain sha256 for the events written before, which it recomputes. So it
 * checks that no event is missing, inserted or reordered, and the content of the old events; the
 * keyed hashes, and the chains against the heads the service signs and publishes, are checked by
 * the operators' `pnpm verify-audit` (docs/operations.md).
 *
 *   node --import tsx examples/verify-audit.ts <action_id>...   # these approvals
 *   node --import tsx examples/verify-audit.ts --all            # every approval (pages through approval.list)
 *
 * Exit codes: 0 every chain verifies; 1 a chain is broken (the first broken event is printed) or
 * an error. NATS_URL (default nats://127.0.0.1:4222).
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CountersignClient } from '@countersign/client';
import { connectOrExit, explain, fail } from './common.js';

const { values: args, positionals } = parseArgs({
  options: { all: { type: 'boolean', default: false } },
  allowPositionals: true,
});
if (!args.all && positionals.length === 0) fail('name approvals to verify, or pass --all');

const GENESIS = '0'.repeat(64);

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .filter((key) => record[key] !== undefined)
        .map((key) => [key, sortKeys(record[key])]),
    );
  }
  return value;
}

type History = Awaited<ReturnType<CountersignClient['get']>>['history'];

/**
 * Undefined when the chain holds as far as a public check can tell; else the first event where it
 * breaks, and why. `keyed` counts the events whose hash only the audit key can recompute.
 */
function firstBreak(
  actionId: string,
  history: History,
): { seq: number; problem: string } | { keyed: number } {
  let prev = GENESIS;
  let keyed = 0;
  for (const [index, event] of history.entries()) {
    if (event.seq !== index + 1) return { seq: event.seq, problem: `expected seq ${index + 1}` };
    if (event.prev_hash !== prev)
      return { seq: event.seq, problem: 'prev_hash does not link to the event before' };
    if (!/^[0-9a-f]{64}$/.test(event.hash)) return { seq: event.seq, problem: 'hash is not 64 hex digits' };
    const { seq, event: name, actor, reason, data, at } = event;
    const content = JSON.stringify(
      sortKeys({ action_id: actionId, seq, event: name, actor, reason, data, at }),
    );
    const plain = createHash('sha256')
      .update(prev + content, 'utf8')
      .digest('hex');
    if (plain === event.hash) {
      // An event from before the chain was keyed: none can follow a keyed one.
      if (keyed > 0) return { seq, problem: 'a plain sha256 event after keyed ones' };
    } else {
      keyed++;
    }
    prev = event.hash;
  }
  return { keyed };
}

// Auditing is the operators' task: their context, unless the environment names another user.
const nc = await connectOrExit('example-verify-audit', 'countersign-ops');
const client = new CountersignClient(nc, { timeout: 10_000 });

async function* actionIds(): AsyncGenerator<string> {
  if (!args.all) {
    yield* positionals;
    return;
  }
  let cursor: string | undefined;
  do {
    const page = await client.list({ limit: 500, ...(cursor ? { cursor } : {}) });
    for (const approval of page.items) yield approval.action_id;
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}

let exitCode = 0;
let keyedEvents = 0;
try {
  let checked = 0;
  let events = 0;
  for await (const actionId of actionIds()) {
    const { history } = await client.get(actionId);
    const verdict = firstBreak(actionId, history);
    checked++;
    events += history.length;
    if ('problem' in verdict) {
      exitCode = 1;
      console.log(`${actionId}: BROKEN at event ${verdict.seq}: ${verdict.problem}`);
    } else {
      keyedEvents += verdict.keyed;
      if (!args.all) {
        console.log(
          `${actionId}: ok (${history.length} events, ${verdict.keyed} keyed, head ${history.at(-1)?.hash.slice(0, 16) ?? '-'})`,
        );
      }
    }
  }
  console.log(
    `${checked} approval(s), ${events} audit events: ${exitCode === 0 ? 'every chain links' : 'BROKEN chains above'}` +
      (keyedEvents > 0
        ? ` (${keyedEvents} keyed: their HMACs and the signed heads are checked by pnpm verify-audit)`
        : ''),
  );
} catch (err) {
  exitCode = 1;
  console.error(`error: ${explain(err)}`);
} finally {
  await nc.drain().catch(() => {});
}
process.exit(exitCode);
