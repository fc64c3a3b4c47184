-- Tracing: the W3C trace context ({"traceparent": ..., "tracestate": ...}) an approval event
-- arrived with, so its deliveries, sent later by the worker, continue the approval's trace and
-- hand it on to webhook receivers. Null when tracing is off or the event carried none.
alter table notifier.events add column trace_context json;
