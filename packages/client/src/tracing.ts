/**
 * The SDK's part of a trace, through the OpenTelemetry API only: spans for the request, the
 * wait and the wake-up, and W3C trace context (`traceparent`) in the headers of what it sends.
 * An application that registers no OpenTelemetry SDK gets the API's no-ops: no span is
 * recorded and no header is added.
 */

import { type MsgHdrs, headers as natsHeaders } from '@nats-io/nats-core';
import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';

export { SpanKind };

const TRACER = '@countersign/client';

/** Runs `fn` in an active span of the SDK; a throw marks it as an error and is rethrown. */
export function traced<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return trace.getTracer(TRACER).startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error)?.message ?? err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Headers carrying the active trace context (`traceparent`, `tracestate`), or undefined when
 * there is none to carry (no OpenTelemetry SDK, or nothing traced): nothing extra is sent then.
 */
export function traceHeaders(): MsgHdrs | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  // Empty values (a tracestate with no members) are not sent.
  const entries = Object.entries(carrier).filter(([, value]) => value !== '');
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [key, value] of entries) h.set(key, value);
  return h;
}

const headersGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};

/**
 * Marks the waiter's wake-up: a short span in the trace the decided event carries (the
 * approval's, which began with this SDK's request), so the trace ends where the caller resumed.
 */
export function recordWakeUp(headers: MsgHdrs | undefined, actionId: string): void {
  if (headers === undefined) return;
  const parent = propagation.extract(ROOT_CONTEXT, headers, headersGetter);
  if (!trace.getSpanContext(parent)) return;
  trace
    .getTracer(TRACER)
    .startSpan(
      'countersign decision received',
      { kind: SpanKind.CONSUMER, attributes: { 'countersign.action_id': actionId } },
      parent,
    )
    .end();
}
