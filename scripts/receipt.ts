/**
 * `pnpm receipt verify`: checks a decision receipt offline (docs/security.md "Receipts"), with
 * the same code the SDK runs before a gated function: EdDSA only, typ countersign-receipt+jwt,
 * the key named by its kid in the given JWK Set, the claims a receipt has.
 *
 *   pnpm receipt verify <receipt | file | -> --jwks <file | url>
 *        [--action-id <id>] [--request-hash <hex>] [--status <status>]
 *
 * The receipt is the compact JWS itself, a file holding it, or a file (or `-`, standard input)
 * holding an approval as JSON (`nats req approval.get …`, the HTTP API), whose `receipt` is
 * checked against its action_id and status. `--jwks` is a saved JWK Set or the service's
 * `/.well-known/jwks.json` URL. Prints the verified claims as JSON and exits 0; exits 1 with the
 * reason (bad signature, unknown kid, wrong typ or alg, …) on standard error; 2 on a usage error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ReceiptInvalidError, verifyReceipt } from '../packages/client/src/receipts.js';
import { Jwks, TERMINAL_STATUSES } from '../packages/contracts/src/index.js';

const USAGE =
  'usage: pnpm receipt verify <receipt | file | -> --jwks <file | url> [--action-id <id>] [--request-hash <hex>] [--status <status>]';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function fail(message: string, code: 1 | 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parse() {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        jwks: { type: 'string' },
        'action-id': { type: 'string' },
        'request-hash': { type: 'string' },
        status: { type: 'string' },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
}

const { positionals, values } = parse();
const [command, source, ...extra] = positionals;
if (command !== 'verify' || source === undefined || extra.length > 0 || values.jwks === undefined)
  fail(USAGE, 2);
const status = values.status;
if (status !== undefined && !(TERMINAL_STATUSES as readonly string[]).includes(status))
  fail(`--status must be one of ${TERMINAL_STATUSES.join(', ')}`, 2);

/** The receipt, and what it must attest when it came inside an approval. */
function readReceipt(arg: string): { token: string; action_id?: string; status?: string } {
  if (COMPACT_JWS.test(arg)) return { token: arg };
  let text: string;
  try {
    text = arg === '-' ? readFileSync(0, 'utf8') : readFileSync(arg, 'utf8');
  } catch (err) {
    return fail(`cannot read ${arg}: ${(err as Error).message}`, 1);
  }
  const trimmed = text.trim();
  if (COMPACT_JWS.test(trimmed)) return { token: trimmed };
  let approval: { receipt?: unknown; action_id?: unknown; status?: unknown };
  try {
    approval = JSON.parse(trimmed);
  } catch {
    return fail(`${arg}: neither a compact JWS nor an approval as JSON`, 1);
  }
  if (typeof approval?.receipt !== 'string') fail(`${arg}: the approval carries no receipt`, 1);
  return {
    token: approval.receipt as string,
    ...(typeof approval.action_id === 'string' ? { action_id: approval.action_id } : {}),
    ...(typeof approval.status === 'string' ? { status: approval.status } : {}),
  };
}

async function readJwks(where: string): Promise<Jwks> {
  let raw: unknown;
  try {
    if (/^https?:\/\//.test(where)) {
      const response = await fetch(where, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) fail(`--jwks ${where}: HTTP ${response.status}`, 1);
      raw = await response.json();
    } else {
      raw = JSON.parse(readFileSync(where, 'utf8'));
    }
  } catch (err) {
    return fail(`--jwks ${where}: ${(err as Error).message}`, 1);
  }
  const parsed = Jwks.safeParse(raw);
  if (!parsed.success) fail(`--jwks ${where}: not a JWK Set of Ed25519 keys`, 1);
  return parsed.data;
}

const receipt = readReceipt(source);
const jwks = await readJwks(values.jwks);
try {
  const claims = verifyReceipt(receipt.token, jwks, {
    ...((values['action-id'] ?? receipt.action_id)
      ? { action_id: values['action-id'] ?? receipt.action_id }
      : {}),
    ...(values['request-hash'] ? { request_hash: values['request-hash'] } : {}),
    ...((status ?? receipt.status)
      ? { status: (status ?? receipt.status) as (typeof TERMINAL_STATUSES)[number] }
      : {}),
  });
  process.stdout.write(`${JSON.stringify(claims, null, 2)}\n`);
} catch (err) {
  if (err instanceof ReceiptInvalidError) fail(`receipt refused (${err.code}): ${err.message}`, 1);
  throw err;
}
