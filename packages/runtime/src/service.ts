import {
  Headers as ContractHeaders,
  CountersignError,
  canonicalIdentity,
  decodeRequest,
  type EndpointName,
  Endpoints,
  type ParsedRequestOf,
  type ResponseOf,
} from '@countersign/contracts';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { type Endpoint, type Service, type ServiceMsg, Svcm } from '@nats-io/services';
import { coerceError } from './errors.js';
import type { Logger } from './logger.js';
import { contextFromHeaders, SpanKind, tracingEnabled, withSpan } from './tracing.js';

const encoder = new TextEncoder();

/** Context a handler gets besides the parsed request: the raw message (for headers). */
export interface HandlerContext {
  msg: ServiceMsg;
  logger: Logger;
  /**
   * On an actor-bound command (`approval.decide.<identity>`): the canonical identity the subject
   * names, which NATS permissions let only that identity's user publish under. Absent otherwise.
   */
  actor?: string;
}

export type EndpointHandler<E extends EndpointName> = (
  request: ParsedRequestOf<E>,
  ctx: HandlerContext,
) => Promise<ResponseOf<E>>;

export type EndpointHandlers<E extends EndpointName> = { [K in E]: EndpointHandler<K> };

export interface ServiceOptions {
  name: string;
  version: string;
  description: string;
  /** Queue group shared by replicas; the framework's default is `q`. */
  queue?: string;
  /** Extra per-endpoint data for `nats micro stats` (e.g. which policy revision a replica runs). */
  statsHandler?: (endpoint: Endpoint) => Promise<unknown>;
  /** Told about every error reply, validation refusals included (e.g. to count them by code). */
  onError?: (endpoint: EndpointName, error: CountersignError) => void;
}

/** Answers a structured error: headers for the services framework, JSON body for humans. */
export function respondWithError(msg: ServiceMsg, error: CountersignError): void {
  msg.respondError(error.status, headerSafe(error.message), encoder.encode(JSON.stringify(error.toBody())));
}

/**
 * A header value is one line: NATS refuses CR and LF in it, and then no reply is sent at all, so
 * the requester waits for its timeout. Messages quoting the input (a JSON parser's "Unexpected
 * token") can hold any character; the header gets them as spaces, the JSON body keeps them.
 */
function headerSafe(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point.
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/**
 * Starts a services-framework service whose endpoints are the named commands of the contract.
 * Every request is decoded and validated with the contract's schema; every failure, thrown or
 * rejected, becomes a structured error reply, so a bad message never kills the handler loop or
 * leaves the requester waiting for a timeout.
 */
export async function startService<E extends EndpointName>(
  nc: NatsConnection,
  options: ServiceOptions,
  handlers: EndpointHandlers<E>,
  logger: Logger,
): Promise<Service> {
  const service = await new Svcm(nc).add({
    name: options.name,
    version: options.version,
    description: options.description,
    ...(options.queue ? { queue: options.queue } : {}),
    ...(options.statsHandler ? { statsHandler: options.statsHandler } : {}),
  });
  for (const name of Object.keys(handlers) as E[]) {
    const spec = Endpoints[name];
    const handler = handlers[name] as EndpointHandler<E>;
    const log = logger.child({ endpoint: spec.subject });
    const onError = (error: CountersignError) => options.onError?.(name, error);
    service.addEndpoint(spec.name, {
      subject: spec.actor ? `${spec.subject}.>` : spec.subject,
      handler: (err, msg) => {
        if (err) {
          log.error({ err }, 'endpoint subscription failed');
          return;
        }
        const actorPrefix = spec.actor ? spec.subject : undefined;
        const parent = tracingEnabled() ? contextFromHeaders(msg.headers) : undefined;
        // A server span in the caller's trace when its headers carry one; a command (someone
        // acts) starts a trace of its own otherwise. An untraced read (a readiness probe's
        // policy.info, a dashboard's approval.get) makes none: it would be a trace per poll.
        if (parent === undefined && !(tracingEnabled() && spec.actor)) {
          void handle(msg, spec.request, handler, log, onError, actorPrefix, spec.maxBytes);
          return;
        }
        void withSpan(spec.subject, { kind: SpanKind.SERVER, ...(parent ? { parent } : {}) }, () =>
          handle(msg, spec.request, handler, log, onError, actorPrefix, spec.maxBytes),
        );
      },
    });
    if (spec.actor) {
      // The bare subject names nobody: answer why, instead of leaving the caller with "no responders".
      nc.subscribe(spec.subject, {
        ...(options.queue ? { queue: options.queue } : { queue: 'q' }),
        callback: (err, msg) => {
          if (err) return;
          const error = identityRequired(spec.subject);
          onError(error);
          try {
            msg.respond(encoder.encode(JSON.stringify(error.toBody())), {
              headers: errorHeaders(error),
            });
          } catch (respondErr) {
            log.warn({ err: respondErr }, 'could not send error reply');
          }
        },
      });
    }
  }
  // The endpoints' subscriptions are only buffered so far: one round trip makes sure the server
  // has them before the caller goes on to say it is ready, or a request sent right after that
  // (ops with the NATS CLI, a test) finds no responders.
  await nc.flush();
  return service;
}

/** The services framework's error headers, for a reply sent outside an endpoint. */
function errorHeaders(error: CountersignError): MsgHdrs {
  const h = headers();
  h.set(ContractHeaders.serviceError, headerSafe(error.message));
  h.set(ContractHeaders.serviceErrorCode, String(error.status));
  return h;
}

function identityRequired(subject: string): CountersignError {
  const message = `send to ${subject}.<your identity>: the subject says who acts, and NATS lets each user publish only under its own`;
  return new CountersignError('forbidden', message, { reasons: [{ code: 'identity_required', message }] });
}

/**
 * The identity an actor-bound subject names (`approval.decide.frank` -> `frank`), canonical. A
 * subject whose identity part is not a canonical identity is refused: the permissions were
 * granted for canonical names, so anything else was not published by a person the directory knows.
 */
export function actorOfSubject(prefix: string, subject: string): string {
  const raw = subject.slice(prefix.length + 1);
  const result = canonicalIdentity(raw);
  if (!result.ok || result.identity !== raw) {
    const message = `the identity in the subject is not a canonical identity: ${result.ok ? `use ${result.identity}` : result.message}`;
    throw new CountersignError('forbidden', message, { reasons: [{ code: 'unknown_identity', message }] });
  }
  return result.identity;
}

async function handle<E extends EndpointName>(
  msg: ServiceMsg,
  schema: (typeof Endpoints)[E]['request'],
  handler: EndpointHandler<E>,
  logger: Logger,
  onError: (error: CountersignError) => void,
  /** Set on actor-bound commands: the subject prefix before the identity. */
  actorPrefix: string | undefined,
  /** The endpoint's own request limit (a policy bundle); MAX_PAYLOAD_BYTES otherwise. */
  maxBytes?: number,
): Promise<void> {
  try {
    const actor = actorPrefix === undefined ? undefined : actorOfSubject(actorPrefix, msg.subject);
    const request = decodeRequest(schema, msg.data, maxBytes) as ParsedRequestOf<E>;
    const response = await handler(request, { msg, logger, ...(actor === undefined ? {} : { actor }) });
    msg.respond(encoder.encode(JSON.stringify(response)));
  } catch (err) {
    const error = coerceError(err);
    try {
      onError(error);
    } catch (hookErr) {
      logger.warn({ err: hookErr }, 'error hook failed');
    }
    if (error.code === 'internal') logger.error({ err: error.cause ?? error }, 'command failed');
    else logger.debug({ code: error.code, message: error.message }, 'command refused');
    try {
      respondWithError(msg, error);
    } catch (respondErr) {
      // The connection may be closing; nothing else can be done for this requester.
      logger.warn({ err: respondErr }, 'could not send error reply');
    }
  }
}
