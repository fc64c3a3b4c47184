import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
  type DeliveryStatus,
  type DeliveryView,
  enableChannel,
  getDelivery,
  listDeliveries,
  listDisabledChannels,
  replayDelivery,
} from './store.js';

const USAGE = `usage: dlq <command>   (reads DATABASE_URL)
  list [--channel NAME] [--status dead|superseded|scheduled|in_progress|delivered] [--limit N] [--json]
                       dead-lettered deliveries (default --status dead), newest first
  show <id>            one delivery with every attempt's outcome, status and error
  replay <id>...       schedule dead or superseded deliveries again; the running notifier sends them
  disabled             channels disabled because their receiver answered 410 Gone
  enable <channel>     enable a disabled channel again (replay its dead deliveries afterwards)`;

export interface CliIo {
  pool: pg.Pool;
  out: (line: string) => void;
  err: (line: string) => void;
}

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

function row(d: DeliveryView): string {
  const when = d.finished_at ? d.finished_at.toISOString() : '-';
  return [
    d.id,
    d.status,
    d.channel,
    d.target,
    d.event_type,
    d.action_id,
    `attempts=${d.attempts}`,
    when,
    d.last_error ?? '',
  ]
    .map(String)
    .join('\t');
}

/** Runs one command; returns the exit code. */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'list': {
      const limit = Number(option(rest, '--limit') ?? 50);
      const status = (option(rest, '--status') ?? 'dead') as DeliveryStatus;
      const channel = option(rest, '--channel');
      const items = await listDeliveries(io.pool, { status, limit, ...(channel ? { channel } : {}) });
      if (rest.includes('--json')) for (const item of items) io.out(JSON.stringify(item));
      else {
        io.out(
          [
            'id',
            'status',
            'channel',
            'target',
            'event',
            'action_id',
            'attempts',
            'finished',
            'last_error',
          ].join('\t'),
        );
        for (const item of items) io.out(row(item));
      }
      return 0;
    }
    case 'show': {
      const id = Number(rest[0]);
      const delivery = Number.isInteger(id) ? await getDelivery(io.pool, id) : undefined;
      if (!delivery) {
        io.err(`no delivery ${rest[0] ?? ''}`);
        return 1;
      }
      io.out(JSON.stringify(delivery, null, 2));
      return 0;
    }
    case 'replay': {
      if (rest.length === 0) {
        io.err('replay needs at least one delivery id');
        return 2;
      }
      let failed = 0;
      for (const arg of rest) {
        const id = Number(arg);
        if (Number.isInteger(id) && (await replayDelivery(io.pool, id)))
          io.out(`delivery ${id} scheduled again`);
        else {
          failed += 1;
          io.err(`delivery ${arg} is not dead or superseded (or does not exist)`);
        }
      }
      return failed === 0 ? 0 : 1;
    }
    case 'disabled': {
      for (const c of await listDisabledChannels(io.pool)) {
        io.out(`${c.channel}\t${c.disabled_at.toISOString()}\t${c.reason}`);
      }
      return 0;
    }
    case 'enable': {
      const name = rest[0];
      if (!name) {
        io.err('enable needs a channel name');
        return 2;
      }
      if (await enableChannel(io.pool, name)) {
        io.out(`channel ${name} enabled`);
        return 0;
      }
      io.err(`channel ${name} is not disabled`);
      return 1;
    }
    default:
      io.err(USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  const args = process.argv.slice(2);
  const url = process.env.DATABASE_URL;
  if (!url || args.length === 0 || args[0] === 'help' || args[0] === '--help') {
    process.stderr.write(`${url ? '' : 'DATABASE_URL is not set\n'}${USAGE}\n`);
    process.exit(url ? 0 : 2);
  }
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  const code = await runCli(args, {
    pool,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).catch((err: unknown) => {
    // The message only: a stack or error object could carry connection details.
    process.stderr.write(`dlq: ${(err as Error).message}\n`);
    return 1;
  });
  await pool.end();
  process.exit(code);
}
