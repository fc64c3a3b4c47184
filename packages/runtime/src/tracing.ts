/**
 * Tracing: the one owner of OpenTelemetry in the services. Off unless configured
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_TRACES_EXPORTER=otlp`); then spans go to an OTLP/HTTP
 * collector, and W3C trace context (`traceparent`, `tracestate`) is read from and written to
 * NATS headers, stored rows (the outbox, the notifier's events) and outgoing webhooks.
 *
 * When off, nothing is registered and every helper here returns at once: no span objects, no
 * headers, no carriers, so the hot path pays one boolean test per call.
 */

import { type MsgHdrs, headers as natsHeaders } from '@nats-io/nats-core';
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';

export { type Context as TraceContext, type Span, SpanKind };

/** What the scaffold reads from the OTEL_* variables (config.ts). */
export interface TracingSettings {
  /** Where spans go: the collector's OTLP/HTTP base URL (`/v1/traces` is appended). */
  endpoint: string;
  /** `service.name` of every span; the service's own name unless OTEL_SERVICE_NAME says otherwise. */
  serviceName?: string;
}

/** The W3C trace context of one operation as stored in a row: `{traceparent, tracestate?}`. */
export type TraceCarrier = Record<string, string>;

export interface Tracing {
  /** Sends the spans still buffered and stops exporting. Idempotent. */
  stop(): Promise<void>;
}

let enabled = false;
const TRACER = 'countersign';
/** How long stop() waits for the last spans to reach the collector. */
const STOP_FLUSH_MS = 2_000;

/** Whether this process traces (startTracing ran). */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Turns tracing on for this process: a tracer provider exporting in batches to the collector,
 * AsyncLocalStorage for the active span, W3C trace context as the propagator. Called once by
 * the scaffold before anything connects; never at import time. The SDK and the exporter are
 * loaded here, only when tracing is on: loading them cost every service about 150 ms of its
 * start (the API above, which the helpers use, is small).
 */
export async function startTracing(settings: TracingSettings, serviceName: string): Promise<Tracing> {
  const [
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { OTLPTraceExporter },
    { resourceFromAttributes },
    { BatchSpanProcessor, TracerProvider },
  ] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace'),
  ]);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName ?? serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({
          url: `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`,
          timeoutMillis: STOP_FLUSH_MS,
        }),
        // Short: a trace shows up in the collector within a second of its last span.
        scheduledDelayMillis: 500,
      }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  let stopped: Promise<void> | undefined;
  return {
    stop: () => {
      // Bounded: with the collector down, the exporter retries for as long as it is let, and
      // a service must not miss its shutdown deadline over spans.
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_FLUSH_MS);
        timer.unref();
        provider
          .shutdown()
          .catch(() => {})
          .finally(() => {
            clearTimeout(timer);
            resolve();
          });
      });
      return stopped;
    },
  };
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default the active context. */
  parent?: Context;
  /** Other traces this operation serves (a batch's other messages, the decider's command). */
  links?: readonly (Context | undefined)[];
}

/**
 * Runs `fn` inside a span that is active for everything it awaits (database transactions,
 * NATS requests it sends). A throw marks the span as an error and is rethrown. When tracing is
 * off, `fn` runs as is, with no span.
 */
export function withSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!enabled) return fn(undefined);
  const parent = options.parent ?? context.active();
  const span = trace.getTracer(TRACER).startSpan(name, spanStart(options), parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error)?.message ?? err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Starts a span the caller ends itself (an intake message's span lives until its batch is
 * settled). Undefined when tracing is off.
 */
export function startSpan(name: string, options: SpanOptions = {}): Span | undefined {
  if (!enabled) return undefined;
  return trace.getTracer(TRACER).startSpan(name, spanStart(options), options.parent ?? context.active());
}

/** Marks a span (from {@link startSpan}) as failed, with why. */
export function markFailed(span: Span | undefined, message: string): void {
  span?.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** The context whose active span is `span` (for a later {@link withContext}); undefined when off. */
export function contextOf(span: Span | undefined): Context | undefined {
  return span === undefined ? undefined : trace.setSpan(context.active(), span);
}

/** The active context, to carry over to work done later (an item's write); undefined when off. */
export function activeTraceContext(): Context | undefined {
  return enabled ? context.active() : undefined;
}

/** Runs `fn` with `ctx` active (when given): spans and headers made inside belong to its trace. */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx === undefined ? fn() : context.with(ctx, fn);
}

/** Whether a traced operation is in progress: its children (database transactions) are worth a span. */
export function inTrace(): boolean {
  return enabled && trace.getSpan(context.active()) !== undefined;
}

function spanStart(options: SpanOptions) {
  const links: Link[] = [];
  for (const ctx of options.links ?? []) {
    const linked = ctx === undefined ? undefined : trace.getSpanContext(ctx);
    if (linked) links.push({ context: linked });
  }
  return {
    kind: options.kind ?? SpanKind.INTERNAL,
    ...(options.attributes ? { attributes: options.attributes } : {}),
    ...(links.length > 0 ? { links } : {}),
  };
}

const headersGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};
// Empty values (a tracestate with no members) are not written: no `tracestate:` header or key.
const headersSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => {
    if (value !== '') carrier.set(key, value);
  },
};
/** A stored carrier, or incoming HTTP headers (node's `IncomingHttpHeaders`). */
type CarrierIn = Readonly<Record<string, string | string[] | undefined>>;

const recordGetter: TextMapGetter<CarrierIn> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};
const recordSetter: TextMapSetter<TraceCarrier> = {
  set: (carrier, key, value) => {
    if (value !== '') carrier[key] = value;
  },
};

/**
 * The context a NATS message carries in its headers (`traceparent`, `tracestate`), for the span
 * that handles it. Undefined when tracing is off or the message carries none.
 */
export function contextFromHeaders(headers: MsgHdrs | undefined): Context | undefined {
  if (!enabled || headers === undefined) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, headers, headersGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/**
 * Headers carrying the active (or given) context for a NATS request or publish: `headers` with
 * `traceparent` added, or new headers. Undefined (send none) when tracing is off.
 */
export function traceHeaders(headers?: MsgHdrs, ctx: Context = context.active()): MsgHdrs | undefined {
  if (!enabled || !trace.getSpanContext(ctx)) return headers;
  const h = headers ?? natsHeaders();
  propagation.inject(ctx, h, headersSetter);
  return h;
}

/**
 * The active (or given) context as a record to store in a row or send as HTTP headers
 * (`{traceparent, tracestate?}`). Undefined when tracing is off or nothing is traced.
 */
export function traceCarrier(ctx: Context = context.active()): TraceCarrier | undefined {
  if (!enabled || !trace.getSpanContext(ctx)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier, recordSetter);
  return carrier;
}

/**
 * The context a stored carrier, or an HTTP request's headers, hold. Undefined when tracing is
 * off or there is none.
 */
export function contextFromCarrier(carrier: CarrierIn | null | undefined): Context | undefined {
  if (!enabled || carrier === null || carrier === undefined) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, carrier, recordGetter);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}
