import { callEndpoint } from '@countersign/client';
import {
  canonicalIdentity,
  type EndpointName,
  Endpoints,
  type RequestOf,
  type ResponseOf,
} from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Calls a command with a timeout generous enough for a loaded test machine. A command that acts
 * is sent under the identity `as` names, else the one its actor field names (`decided_by: 'frank'`
 * goes to `approval.decide.frank`): the connection must be allowed to publish there (its own
 * identity's user, or the harness's ops user, which may publish anywhere).
 */
export function call<E extends EndpointName>(
  nc: NatsConnection,
  name: E,
  request: RequestOf<E>,
  options: { as?: string; timeout?: number } = {},
): Promise<ResponseOf<E>> {
  const field = Endpoints[name].actor;
  const named = options.as ?? (field ? (request as Record<string, unknown>)[field] : undefined);
  const actor = typeof named === 'string' ? canonicalOrRaw(named) : undefined;
  return callEndpoint(nc, name, request, {
    timeout: options.timeout ?? 10_000,
    ...(actor === undefined ? {} : { actor }),
  });
}

/** Tests also send names that are not identities, to see them refused: those go as they are. */
function canonicalOrRaw(name: string): string {
  const result = canonicalIdentity(name);
  return result.ok ? result.identity : name;
}
