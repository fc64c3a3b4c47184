import {
  actorSubject,
  type CountersignError,
  type EndpointName,
  Endpoints,
  ErrorBody,
  Headers,
  type RequestOf,
  type ResponseOf,
} from '@countersign/contracts';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import type { z } from 'zod';
import { typedError } from './errors.js';
import { traceHeaders } from './tracing.js';

export interface CallOptions {
  /** How long to wait for the reply, in milliseconds. Default 5000. */
  timeout?: number;
  /** Extra NATS headers to send along (e.g. a trace id). */
  headers?: Record<string, string>;
  /**
   * Who acts, for the commands that act (submit, decide, cancel, report): they are sent to
   * `<subject>.<actor>`, which NATS lets only that identity's user publish to.
   */
  actor?: string;
}

const encoder = new TextEncoder();

/**
 * Calls one command of the contract over NATS request/reply and returns the parsed reply.
 * A service error reply becomes a {@link CountersignError} with the service's code; no
 * responder or no reply in time becomes `unavailable`, which callers may retry.
 */
export async function callEndpoint<E extends EndpointName>(
  nc: NatsConnection,
  name: E,
  request: RequestOf<E>,
  options: CallOptions = {},
): Promise<ResponseOf<E>> {
  const spec = Endpoints[name];
  let subject = spec.subject;
  if (spec.actor) {
    if (options.actor === undefined) {
      throw typedError(
        'invalid_request',
        `${spec.subject} needs the identity that acts (the client's identity option)`,
        {
          fields: [{ path: spec.actor, message: 'required: who acts' }],
        },
      );
    }
    subject = actorSubject(name, options.actor);
  }
  let reply: Msg;
  try {
    const headers = traceHeaders();
    reply = await nc.request(subject, encoder.encode(JSON.stringify(request)), {
      timeout: options.timeout ?? 5000,
      ...(headers ? { headers } : {}),
    });
  } catch (err) {
    throw unavailableFrom(subject, err);
  }
  return readReply(subject, reply, spec.response as z.ZodType) as ResponseOf<E>;
}

/** The `unavailable` error for a request that got no reply (exported for its unit test). */
export function unavailableFrom(subject: string, err: unknown): CountersignError {
  const cause = errorName((err as { cause?: unknown } | undefined)?.cause);
  const timedOut =
    errorName(err) === 'TimeoutError' || (errorName(err) === 'RequestError' && cause === 'TimeoutError');
  const message =
    errorName(err) === 'RequestError' && cause === 'NoResponders'
      ? `no service is answering ${subject}`
      : timedOut
        ? `${subject} did not answer in time`
        : `request to ${subject} failed: ${String(err)}`;
  return typedError('unavailable', message, { subject }, { cause: err });
}

/**
 * nats-core errors are told apart by `name` (`RequestError` with a `TimeoutError` or
 * `NoResponders` cause), not by `instanceof`: the connection the application hands in may come
 * from another copy of nats-core than the one this package resolves, and then its classes differ.
 */
function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

/** Parses a reply: a structured service error is thrown as such, a malformed reply as `internal`. */
export function readReply<S extends z.ZodType>(subject: string, reply: Msg, schema: S): z.infer<S> {
  let body: unknown;
  try {
    body = reply.data.length === 0 ? null : JSON.parse(new TextDecoder().decode(reply.data));
  } catch {
    body = undefined;
  }
  if (reply.headers?.get(Headers.serviceErrorCode)) {
    const parsed = ErrorBody.safeParse(body);
    if (parsed.success) {
      const { code, message, details } = parsed.data.error;
      throw typedError(code, message, details);
    }
    const status = reply.headers.get(Headers.serviceErrorCode);
    throw typedError('internal', `${subject} failed (${status}): ${reply.headers.get(Headers.serviceError)}`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw typedError('internal', `${subject} answered a reply that does not match the contract`, {
      subject,
    });
  }
  return parsed.data;
}
