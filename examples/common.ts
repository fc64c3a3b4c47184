/**
 * What the examples share: connecting to NATS with a clear message when nothing is there, the
 * sample approvers of the default policy's directory, and the `nats req` line an approver pastes.
 */
import { UnavailableError } from '@countersign/client';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** One sample approver per role, from the directory in policies/countersign/data.json. */
export const SAMPLE_APPROVERS: Record<string, string[]> = {
  ops: ['bob', 'grace'],
  finance: ['frank', 'alice'],
  security: ['erin', 'grace'],
};

/** Prints the message to stderr and exits with the code. */
export function fail(message: string, code = 1): never {
  console.error(`error: ${message}`);
  process.exit(code);
}

/**
 * Connects to NATS_URL. The connection reconnects for as long as the example runs, as a real
 * requester's would; only the first connect fails fast.
 */
export async function connectOrExit(name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: NATS_URL, name, timeout: 5000, maxReconnectAttempts: -1 });
  } catch (err) {
    return fail(
      `cannot connect to NATS at ${NATS_URL} (${(err as Error).message}). Start the system with ` +
        '`bash scripts/run.sh`, or set NATS_URL.',
    );
  }
}

/** A clearer message for the errors a newcomer meets first. */
export function explain(err: unknown): string {
  if (err instanceof UnavailableError) {
    return `${err.message}: are the services running (\`bash scripts/run.sh\`)?`;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The exact NATS CLI line that records `decidedBy`'s vote on an approval. */
export function decideCommand(
  actionId: string,
  decidedBy: string,
  approved: boolean,
  reason: string,
): string {
  const body = JSON.stringify({ action_id: actionId, approved, decided_by: decidedBy, reason });
  return `nats req approval.decide '${body}'`;
}

/** The sample approvers who may decide an approval needing these roles (without the requester). */
export function approversFor(roles: readonly string[], count: number, requester: string): string[] {
  const people = [...new Set(roles.flatMap((role) => SAMPLE_APPROVERS[role] ?? []))].filter(
    (p) => p !== requester,
  );
  return people.slice(0, count);
}
