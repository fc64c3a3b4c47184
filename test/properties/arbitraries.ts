/**
 * Generators of hostile input for the property tests: any JSON, raw bytes, strings with control
 * characters and lone surrogates, and "almost valid" requests (a valid one with fields dropped,
 * replaced by anything, or added), which reach deeper into the handlers than noise does.
 */
import fc from 'fast-check';

const encoder = new TextEncoder();

/** Strings known to break naive code: NUL, bidi overrides, markup, SQL, lone surrogates, long ones. */
export const nastyString = fc.constantFrom(
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\u202eevil',
  '<script>alert(1)</script>',
  "' or 1=1 --",
  "'; drop table approval.approvals; --",
  '\ud800',
  '%00',
  '../../etc/passwd',
  '{{7*7}}',
  'x'.repeat(3000),
);

/** Any string, including control characters, NUL and lone surrogates. */
export const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
  nastyString,
);

/** Any JSON value, keys included (`__proto__`, empty, unicode), a few levels deep. */
export const anyJson = fc.jsonValue({ maxDepth: 4, depthSize: 'small' });

/** A valid value with keys dropped, replaced by anything, and unknown keys added. */
export function mutated(valid: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(valid);
  const key = keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), anyString) : anyString;
  return fc
    .record({
      drop: fc.subarray(keys),
      set: fc.array(fc.tuple(key, fc.oneof(anyJson, anyString)), { maxLength: 3 }),
    })
    .map(({ drop, set }) => {
      const value: Record<string, unknown> = { ...valid };
      for (const k of drop) delete value[k];
      // defineProperty, so a generated "__proto__" key is an own field as JSON.parse would make it.
      for (const [k, v] of set)
        Object.defineProperty(value, k, { value: v, enumerable: true, writable: true });
      return value;
    });
}

/** A message body: raw bytes, any JSON, or a near-valid request, as bytes. */
export function body(valid: Record<string, unknown>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 2, arbitrary: anyJson.map((v) => encoder.encode(JSON.stringify(v))) },
    { weight: 1, arbitrary: anyString.map((s) => encoder.encode(s)) },
    { weight: 4, arbitrary: mutated(valid).map((v) => encoder.encode(JSON.stringify(v))) },
    // Deep nesting under a known field: JSON.parse takes it, recursive code may not.
    {
      weight: 1,
      arbitrary: fc.integer({ min: 20, max: 20_000 }).map((n) => encoder.encode(deepened(valid, n))),
    },
  );
}

/** The valid value with `levels` nested arrays inside its context (or at its top level). */
function deepened(valid: Record<string, unknown>, levels: number): string {
  const mark = '"__deep__"';
  const context = valid.context;
  const shaped =
    context !== null && typeof context === 'object'
      ? { ...valid, context: { ...context, deep: '__deep__' } }
      : { ...valid, deep: '__deep__' };
  return JSON.stringify(shaped).replace(mark, `${'['.repeat(levels)}${']'.repeat(levels)}`);
}

/** fast-check settings: a modest number of runs; FC_SEED replays a failure it printed. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
  return { numRuns, ...(seed === undefined ? {} : { seed }), endOnFailure: true };
}
