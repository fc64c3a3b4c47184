import { headers } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import {
  contextFromCarrier,
  contextFromHeaders,
  contextOf,
  startSpan,
  startTracing,
  traceCarrier,
  traceHeaders,
  tracingEnabled,
  withContext,
  withSpan,
} from './tracing.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

// One file, one order: off first (nothing registered yet), then on for the rest of the file.
describe('tracing', () => {
  it('is off until started: no spans, headers or carriers, and the work still runs', async () => {
    expect(tracingEnabled()).toBe(false);
    expect(await withSpan('x', {}, async (span) => span)).toBeUndefined();
    expect(startSpan('x')).toBeUndefined();
    expect(traceHeaders()).toBeUndefined();
    expect(traceCarrier()).toBeUndefined();
    const h = headers();
    h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    // An incoming traceparent is not even read while off.
    expect(contextFromHeaders(h)).toBeUndefined();
    expect(contextFromCarrier({ traceparent: h.get('traceparent') })).toBeUndefined();
  });

  it('once on, carries W3C trace context through headers and stored carriers', async () => {
    // Nothing listens there: exporting fails quietly, which is what a missing collector must do.
    const tracing = await startTracing({ endpoint: 'http://127.0.0.1:9' }, 'test');
    try {
      const incoming = headers();
      incoming.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      const parent = contextFromHeaders(incoming);
      expect(parent).toBeDefined();

      const span = startSpan('child', { parent });
      const carrier = traceCarrier(contextOf(span));
      span?.end();
      const [, traceId, spanId] = TRACEPARENT.exec(carrier?.traceparent ?? '') ?? [];
      // The same trace, a new span.
      expect(traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(spanId).not.toBe('b7ad6b7169203331');

      // Stored, then restored later: what is sent on is a child in the same trace.
      const restored = contextFromCarrier(carrier);
      const sent = await withSpan('publish', { parent: restored }, async () =>
        traceHeaders()?.get('traceparent'),
      );
      expect(TRACEPARENT.exec(sent ?? '')?.[1]).toBe(traceId);

      // A message without trace context starts nothing; garbage is ignored, never thrown.
      expect(contextFromHeaders(headers())).toBeUndefined();
      expect(contextFromCarrier({ traceparent: 'garbage' })).toBeUndefined();
      expect(withContext(undefined, () => 1)).toBe(1);

      // A requester controls its headers: what it sends is parsed by the W3C propagator, never
      // stored or passed on as given. A malformed traceparent is no context; an oversized
      // tracestate (a way to bloat rows and smuggle data to webhook receivers) is dropped.
      for (const bad of [
        '00-00000000000000000000000000000000-b7ad6b7169203331-01',
        `00-${'a'.repeat(5000)}`,
      ]) {
        const h = headers();
        h.set('traceparent', bad);
        expect(contextFromHeaders(h)).toBeUndefined();
      }
      const bloated = headers();
      bloated.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      bloated.set('tracestate', `vendor=${'x'.repeat(10_000)}`);
      const kept = traceCarrier(contextFromHeaders(bloated));
      expect(kept?.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      expect(kept?.tracestate).toBeUndefined();

      // A throw inside a span is rethrown.
      await expect(
        withSpan('fails', {}, async () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
    } finally {
      await tracing.stop();
    }
  });
});
