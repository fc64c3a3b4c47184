import { callEndpoint } from '@countersign/client';
import type { EndpointName, RequestOf, ResponseOf } from '@countersign/contracts';
import type { NatsConnection } from '@nats-io/nats-core';

/** Calls a command with a timeout generous enough for a loaded test machine. */
export function call<E extends EndpointName>(
  nc: NatsConnection,
  name: E,
  request: RequestOf<E>,
): Promise<ResponseOf<E>> {
  return callEndpoint(nc, name, request, { timeout: 10_000 });
}
