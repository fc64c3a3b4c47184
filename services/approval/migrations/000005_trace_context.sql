-- Tracing: the W3C trace context ({"traceparent": ..., "tracestate": ...}) an approval was
-- requested in, so its decision, made later by someone else, is published in the same trace;
-- and the context each outbox row is published with. Null when tracing was off or the request
-- carried none. Written once, never queried inside: json keeps the text as given.
alter table approval.approvals add column trace_context json;
alter table approval.outbox add column trace_context json;
